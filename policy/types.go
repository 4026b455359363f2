package policy

import (
	"encoding/json"
	"strconv"
)

// API group, version and kinds posture reads and writes.
const (
	APIVersion = "cilium.io/v2"
	KindCNP    = "CiliumNetworkPolicy"
	KindCCNP   = "CiliumClusterwideNetworkPolicy"
)

// Origin says where a document came from, for error messages and lint.
type Origin struct {
	File string `json:"-"`
	Line int    `json:"-"` // 1-based line of the document start
	// Doc is the 0-based index of the document in a multi-document file.
	Doc int `json:"-"`
	// Fragment is empty for whole objects. For a snippet that is not a whole
	// object (a bare spec, rule, ingress/egress list or toPorts list) the
	// loader wraps it into a synthetic policy and names here what the
	// snippet was: "spec", "rule", "sections" or "peer-rule".
	Fragment string `json:"-"`

	// pos maps field paths to source positions, so that validation and
	// lint can name the line of a field long after parsing.
	pos *positions
}

// Policy is a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy.
type Policy struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       *Rule      `json:"spec,omitempty"`
	Specs      []Rule     `json:"specs,omitempty"`
	// Status is written by Cilium; kept so that `kubectl get -o yaml`
	// output loads, and never interpreted.
	Status json.RawMessage `json:"status,omitempty"`

	Origin Origin `json:"-"`
}

// Clusterwide reports whether this is a CCNP.
func (p *Policy) Clusterwide() bool { return p.Kind == KindCCNP }

// Rules returns spec followed by specs.
func (p *Policy) Rules() []*Rule {
	out := make([]*Rule, 0, 1+len(p.Specs))
	if p.Spec != nil {
		out = append(out, p.Spec)
	}
	for i := range p.Specs {
		out = append(out, &p.Specs[i])
	}
	return out
}

// ObjectMeta is the part of Kubernetes object metadata policies use.
type ObjectMeta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Server-populated fields, accepted so that exported objects load.
	UID               string          `json:"uid,omitempty"`
	ResourceVersion   string          `json:"resourceVersion,omitempty"`
	Generation        int64           `json:"generation,omitempty"`
	CreationTimestamp json.RawMessage `json:"creationTimestamp,omitempty"`
	ManagedFields     json.RawMessage `json:"managedFields,omitempty"`
	// The rest of Kubernetes ObjectMeta, so that any exported object
	// loads under the strict loader; posture never interprets them.
	GenerateName               string          `json:"generateName,omitempty"`
	SelfLink                   string          `json:"selfLink,omitempty"`
	DeletionTimestamp          json.RawMessage `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64          `json:"deletionGracePeriodSeconds,omitempty"`
	OwnerReferences            json.RawMessage `json:"ownerReferences,omitempty"`
	Finalizers                 []string        `json:"finalizers,omitempty"`
}

// Rule is one policy rule (a CNP's spec or an element of specs).
type Rule struct {
	EndpointSelector  *EndpointSelector  `json:"endpointSelector,omitempty"`
	NodeSelector      *EndpointSelector  `json:"nodeSelector,omitempty"`
	Ingress           []IngressRule      `json:"ingress,omitempty"`
	IngressDeny       []IngressDenyRule  `json:"ingressDeny,omitempty"`
	Egress            []EgressRule       `json:"egress,omitempty"`
	EgressDeny        []EgressDenyRule   `json:"egressDeny,omitempty"`
	Labels            []Label            `json:"labels,omitempty"`
	EnableDefaultDeny *DefaultDenyConfig `json:"enableDefaultDeny,omitempty"`
	Description       string             `json:"description,omitempty"`
	Log               *LogConfig         `json:"log,omitempty"`
}

// Label is one entry of a rule's labels; Cilium stores them as objects
// (`cilium policy get` prints them with key, value and source).
type Label struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Source string `json:"source,omitempty"`
}

// LogConfig sets the policy log value Cilium attaches to verdicts.
type LogConfig struct {
	Value string `json:"value,omitempty"`
}

// DefaultDenyConfig overrides, per direction, whether a policy puts its
// subjects into default deny. Nil means Cilium's default (true).
type DefaultDenyConfig struct {
	Ingress *bool `json:"ingress,omitempty"`
	Egress  *bool `json:"egress,omitempty"`
}

// EndpointSelector is a Kubernetes label selector over Cilium labels; keys
// may carry a source prefix ("k8s:app", "any:app", "reserved:host").
type EndpointSelector struct {
	MatchLabels      map[string]string  `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorReq `json:"matchExpressions,omitempty"`
}

// LabelSelectorReq is one matchExpressions entry.
type LabelSelectorReq struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Selector operators.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
)

// IngressCommonRule holds the peer selectors shared by ingress allow and
// deny rules. The peer lists are omitzero, not omitempty: in Cilium an
// explicitly empty list selects nothing, while an absent one lets a rule
// with toPorts match every peer, so writing a policy out must keep the
// difference.
type IngressCommonRule struct {
	FromEndpoints []EndpointSelector `json:"fromEndpoints,omitzero"`
	FromRequires  []EndpointSelector `json:"fromRequires,omitempty"`
	FromCIDR      []string           `json:"fromCIDR,omitzero"`
	FromCIDRSet   []CIDRRule         `json:"fromCIDRSet,omitzero"`
	FromEntities  []string           `json:"fromEntities,omitzero"`
	FromGroups    []json.RawMessage  `json:"fromGroups,omitempty"`
	FromNodes     []EndpointSelector `json:"fromNodes,omitzero"`
}

// IngressRule allows traffic into the selected endpoints.
type IngressRule struct {
	IngressCommonRule `json:",inline"`
	ToPorts           []PortRule      `json:"toPorts,omitempty"`
	ICMPs             []ICMPRule      `json:"icmps,omitempty"`
	Authentication    *Authentication `json:"authentication,omitempty"`
}

// IngressDenyRule denies traffic into the selected endpoints.
type IngressDenyRule struct {
	IngressCommonRule `json:",inline"`
	ToPorts           []PortDenyRule `json:"toPorts,omitempty"`
	ICMPs             []ICMPRule     `json:"icmps,omitempty"`
}

// EgressCommonRule holds the peer selectors shared by egress allow and deny
// rules.
type EgressCommonRule struct {
	ToEndpoints []EndpointSelector `json:"toEndpoints,omitzero"`
	ToRequires  []EndpointSelector `json:"toRequires,omitempty"`
	ToCIDR      []string           `json:"toCIDR,omitzero"`
	ToCIDRSet   []CIDRRule         `json:"toCIDRSet,omitzero"`
	ToEntities  []string           `json:"toEntities,omitzero"`
	ToServices  []Service          `json:"toServices,omitempty"`
	ToGroups    []json.RawMessage  `json:"toGroups,omitempty"`
	ToNodes     []EndpointSelector `json:"toNodes,omitzero"`
}

// EgressRule allows traffic out of the selected endpoints.
type EgressRule struct {
	EgressCommonRule `json:",inline"`
	ToPorts          []PortRule      `json:"toPorts,omitempty"`
	ToFQDNs          []FQDNSelector  `json:"toFQDNs,omitempty"`
	ICMPs            []ICMPRule      `json:"icmps,omitempty"`
	Authentication   *Authentication `json:"authentication,omitempty"`
}

// EgressDenyRule denies traffic out of the selected endpoints.
type EgressDenyRule struct {
	EgressCommonRule `json:",inline"`
	ToPorts          []PortDenyRule `json:"toPorts,omitempty"`
	ICMPs            []ICMPRule     `json:"icmps,omitempty"`
}

// Authentication requires mutual authentication for a rule's peers.
type Authentication struct {
	Mode string `json:"mode"`
}

// CIDRRule is a CIDR with optional carve-outs.
type CIDRRule struct {
	CIDR              string            `json:"cidr,omitempty"`
	CIDRGroupRef      string            `json:"cidrGroupRef,omitempty"`
	CIDRGroupSelector *EndpointSelector `json:"cidrGroupSelector,omitempty"`
	Except            []string          `json:"except,omitempty"`
}

// FQDNSelector selects DNS names exactly or by wildcard pattern.
type FQDNSelector struct {
	MatchName    string `json:"matchName,omitempty"`
	MatchPattern string `json:"matchPattern,omitempty"`
}

// Service selects Kubernetes Services (without selectors, per Cilium).
type Service struct {
	K8sServiceSelector *K8sServiceSelectorNamespace `json:"k8sServiceSelector,omitempty"`
	K8sService         *K8sServiceNamespace         `json:"k8sService,omitempty"`
}

// K8sServiceNamespace names one Service.
type K8sServiceNamespace struct {
	ServiceName string `json:"serviceName,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
}

// K8sServiceSelectorNamespace selects Services by label.
type K8sServiceSelectorNamespace struct {
	Selector  EndpointSelector `json:"selector"`
	Namespace string           `json:"namespace,omitempty"`
}

// PortRule is an L4 port list with optional L7 rules.
type PortRule struct {
	Ports          []PortProtocol `json:"ports,omitempty"`
	TerminatingTLS *TLSContext    `json:"terminatingTLS,omitempty"`
	OriginatingTLS *TLSContext    `json:"originatingTLS,omitempty"`
	ServerNames    []string       `json:"serverNames,omitempty"`
	Listener       *Listener      `json:"listener,omitempty"`
	Rules          *L7Rules       `json:"rules,omitempty"`
}

// PortDenyRule is a port list inside a deny rule (no L7).
type PortDenyRule struct {
	Ports []PortProtocol `json:"ports,omitempty"`
}

// PortProtocol is one port, named port or port range with its protocol.
type PortProtocol struct {
	Port     string `json:"port,omitempty"`
	EndPort  int32  `json:"endPort,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// TLSContext refers to TLS material for L7 visibility.
type TLSContext struct {
	Secret      *Secret `json:"secret,omitempty"`
	TrustedCA   string  `json:"trustedCA,omitempty"`
	Certificate string  `json:"certificate,omitempty"`
	PrivateKey  string  `json:"privateKey,omitempty"`
}

// Secret names a Kubernetes Secret.
type Secret struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Listener redirects to a CiliumEnvoyConfig listener.
type Listener struct {
	EnvoyConfig EnvoyConfig `json:"envoyConfig"`
	Name        string      `json:"name"`
	Priority    int         `json:"priority,omitempty"`
}

// EnvoyConfig names a CiliumEnvoyConfig.
type EnvoyConfig struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// L7Rules are the application-layer rules of a port rule; at most one kind
// may be set.
type L7Rules struct {
	HTTP    []PortRuleHTTP      `json:"http,omitempty"`
	Kafka   []json.RawMessage   `json:"kafka,omitempty"`
	DNS     []PortRuleDNS       `json:"dns,omitempty"`
	L7Proto string              `json:"l7proto,omitempty"`
	L7      []map[string]string `json:"l7,omitempty"`
}

// PortRuleHTTP matches HTTP requests; path and method are extended POSIX
// regexes Cilium matches against the whole value.
type PortRuleHTTP struct {
	Path          string        `json:"path,omitempty"`
	Method        string        `json:"method,omitempty"`
	Host          string        `json:"host,omitempty"`
	Headers       []string      `json:"headers,omitempty"`
	HeaderMatches []HeaderMatch `json:"headerMatches,omitempty"`
}

// HeaderMatch matches one HTTP header.
type HeaderMatch struct {
	Mismatch string  `json:"mismatch,omitempty"`
	Name     string  `json:"name"`
	Secret   *Secret `json:"secret,omitempty"`
	Value    string  `json:"value,omitempty"`
}

// PortRuleDNS allows DNS lookups of matching names through the DNS proxy.
type PortRuleDNS struct {
	MatchName    string `json:"matchName,omitempty"`
	MatchPattern string `json:"matchPattern,omitempty"`
}

// ICMPRule lists ICMP types.
type ICMPRule struct {
	Fields []ICMPField `json:"fields,omitempty"`
}

// ICMPField is one ICMP type of a family (IPv4 default, IPv6).
type ICMPField struct {
	Family string   `json:"family,omitempty"`
	Type   IntOrStr `json:"type"`
}

// IntOrStr holds a Kubernetes int-or-string value (ICMP types may be given
// by number or by name such as "EchoRequest").
type IntOrStr struct {
	Str   string
	Int   int32
	IsStr bool
}

// MarshalJSON writes the number or the string.
func (v IntOrStr) MarshalJSON() ([]byte, error) {
	if v.IsStr {
		return json.Marshal(v.Str)
	}
	return []byte(strconv.Itoa(int(v.Int))), nil
}

// UnmarshalJSON reads a number or a string.
func (v *IntOrStr) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsStr = true
		return json.Unmarshal(b, &v.Str)
	}
	v.IsStr = false
	return json.Unmarshal(b, &v.Int)
}

// Entities Cilium understands in from/toEntities.
const (
	EntityAll           = "all"
	EntityWorld         = "world"
	EntityWorldIPv4     = "world-ipv4"
	EntityWorldIPv6     = "world-ipv6"
	EntityCluster       = "cluster"
	EntityHost          = "host"
	EntityRemoteNode    = "remote-node"
	EntityKubeAPIServer = "kube-apiserver"
	EntityHealth        = "health"
	EntityInit          = "init"
	EntityIngress       = "ingress"
	EntityUnmanaged     = "unmanaged"
	EntityNone          = "none"
)
