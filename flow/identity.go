package flow

import (
	"regexp"
	"strings"
)

// Identity is Cilium's numeric security identity.
type Identity uint32

// Reserved identities, numbered as Cilium numbers them.
const (
	IdentityUnknown       Identity = 0
	IdentityHost          Identity = 1
	IdentityWorld         Identity = 2
	IdentityUnmanaged     Identity = 3
	IdentityHealth        Identity = 4
	IdentityInit          Identity = 5
	IdentityRemoteNode    Identity = 6
	IdentityKubeAPIServer Identity = 7
	IdentityIngress       Identity = 8
	IdentityWorldIPv4     Identity = 9
	IdentityWorldIPv6     Identity = 10
	// IdentityMinLocal is the first identity Cilium allocates locally, for
	// CIDR and FQDN selectors (the local scope bit).
	IdentityMinLocal Identity = 1 << 24
)

var reservedNames = map[Identity]string{
	IdentityHost:          "host",
	IdentityWorld:         "world",
	IdentityUnmanaged:     "unmanaged",
	IdentityHealth:        "health",
	IdentityInit:          "init",
	IdentityRemoteNode:    "remote-node",
	IdentityKubeAPIServer: "kube-apiserver",
	IdentityIngress:       "ingress",
	IdentityWorldIPv4:     "world-ipv4",
	IdentityWorldIPv6:     "world-ipv6",
}

// IsReserved reports whether id is one of Cilium's fixed reserved identities.
func (id Identity) IsReserved() bool { _, ok := reservedNames[id]; return ok }

// IsWorld reports whether id is world, world-ipv4 or world-ipv6.
func (id Identity) IsWorld() bool {
	return id == IdentityWorld || id == IdentityWorldIPv4 || id == IdentityWorldIPv6
}

// ReservedName returns "host", "world", ... or "" for non-reserved ids.
func (id Identity) ReservedName() string { return reservedNames[id] }

// ReservedIdentity maps a reserved label key ("host", "world-ipv4", ...) to
// its identity.
func ReservedIdentity(name string) (Identity, bool) {
	for id, n := range reservedNames {
		if n == name {
			return id, true
		}
	}
	return 0, false
}

// ReservedLabels returns the label set Cilium gives a reserved identity.
// kube-apiserver endpoints in Cilium also carry reserved:host or
// reserved:remote-node when the API server runs on a node; callers that know
// this add the extra label themselves.
func ReservedLabels(id Identity) Labels {
	n := reservedNames[id]
	if n == "" {
		return nil
	}
	ls := Labels{{Source: SourceReserved, Key: n}}
	// Cilium labels both world-ipv4 and world-ipv6 in dual-stack as
	// reserved:world-ipvN; world alone is reserved:world.
	return ls
}

// labelRule is one entry of Cilium's default identity-relevant label filter.
type labelRule struct {
	re      *regexp.Regexp
	exclude bool
	length  int
}

// defaultLabelFilter mirrors Cilium's default label prefix configuration
// (Documentation "Limiting Identity-Relevant Labels", v1.20): a label key is
// kept unless the longest matching pattern is an exclusion.
var defaultLabelFilter = func() []labelRule {
	pats := []string{
		regexp.QuoteMeta(LabelNamespace),
		regexp.QuoteMeta(LabelNamespacePrefix),
		regexp.QuoteMeta("app.kubernetes.io"),
		`!io\.kubernetes`,
		`!kubernetes\.io`,
		`!statefulset\.kubernetes\.io/pod-name`,
		`!apps\.kubernetes\.io/pod-index`,
		`!batch\.kubernetes\.io/job-completion-index`,
		`!batch\.kubernetes\.io/controller-uid`,
		`!beta\.kubernetes\.io`,
		`!k8s\.io`,
		`!pod-template-generation`,
		`!pod-template-hash`,
		`!controller-revision-hash`,
		`!annotation.*`,
		`!controller-uid`,
		`!etcd_node`,
	}
	rules := make([]labelRule, 0, len(pats))
	for _, p := range pats {
		ex := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		rules = append(rules, labelRule{re: regexp.MustCompile("^" + p), exclude: ex, length: len(p)})
	}
	return rules
}()

// IdentityRelevant reports whether Cilium's default filter keeps a pod or
// namespace label key in the security identity.
func IdentityRelevant(key string) bool {
	best, excluded := -1, false
	for _, r := range defaultLabelFilter {
		if r.re.MatchString(key) && r.length > best {
			best, excluded = r.length, r.exclude
		}
	}
	return !excluded
}

// PodIdentity describes a pod as Kubernetes sees it; IdentityLabels turns it
// into the label set Cilium derives for its security identity.
type PodIdentity struct {
	Namespace       string
	ServiceAccount  string
	Cluster         string // "" leaves out io.cilium.k8s.policy.cluster
	PodLabels       map[string]string
	NamespaceLabels map[string]string
}

// IdentityLabels returns the identity-relevant labels, all with source k8s.
func (p PodIdentity) IdentityLabels() Labels {
	ls := make(Labels, 0, len(p.PodLabels)+len(p.NamespaceLabels)+3)
	for k, v := range p.PodLabels {
		if IdentityRelevant(k) {
			ls = append(ls, Label{Source: SourceK8s, Key: k, Value: v})
		}
	}
	for k, v := range p.NamespaceLabels {
		key := LabelNamespacePrefix + k
		if IdentityRelevant(key) {
			ls = append(ls, Label{Source: SourceK8s, Key: key, Value: v})
		}
	}
	ls = append(ls, Label{Source: SourceK8s, Key: LabelNamespace, Value: p.Namespace})
	if p.ServiceAccount != "" {
		ls = append(ls, Label{Source: SourceK8s, Key: LabelServiceAccount, Value: p.ServiceAccount})
	}
	if p.Cluster != "" {
		ls = append(ls, Label{Source: SourceK8s, Key: LabelCluster, Value: p.Cluster})
	}
	ls.Sort()
	return ls
}
