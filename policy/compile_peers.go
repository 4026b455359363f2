package policy

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/posture-dev/posture/flow"
)

// ruleCompiler compiles the peers and ports of one rule set.
type ruleCompiler struct {
	e           *Engine
	ns          string // "" for a CCNP
	matchesInit bool   // the subject selector names reserved:init
}

// peerSel scopes a from/toEndpoints or from/toRequires selector exactly as
// Cilium's getEndpointSelector does: selectors naming a reserved label are
// left alone; otherwise, unless the selector names the pod namespace
// label (any source) or, in a CNP, a namespace-object label, a CNP adds
// its own namespace and a CCNP requires some namespace (pods only).
func (c *ruleCompiler) peerSel(es *EndpointSelector) (labelSel, error) {
	s, err := newLabelSel(es)
	if err != nil {
		return s, err
	}
	if s.hasSource(flow.SourceReserved) {
		return s, nil
	}
	if s.hasKey(flow.SourceK8s, keyNamespace) || s.hasKey(flow.SourceAny, keyNamespace) {
		return s, nil
	}
	if c.ns == "" {
		if !c.matchesInit {
			s.add(selReq{src: flow.SourceK8s, key: keyNamespace, op: opExists})
		}
		return s, nil
	}
	if s.hasKeyPrefix(flow.SourceK8s, keyNamespaceMeta) || s.hasKeyPrefix(flow.SourceAny, keyNamespaceMeta) {
		return s, nil
	}
	s.setMatch(flow.SourceK8s, keyNamespace, c.ns)
	return s, nil
}

// peerSelKey is what peerSel's result depends on: a selector is known by
// its label map and expression list, which copies of it share.
// Generated policy sets name one peer through copies of one selector in
// many rules: remembering the interned id skips compiling and rendering
// it again. Policies are not modified while they are compiled.
type peerSelKey struct {
	labels      unsafe.Pointer
	exprs       *LabelSelectorReq
	nExprs      int
	ns          string
	matchesInit bool
}

// peerSelID returns the interned id of peerSel(es).
func (c *ruleCompiler) peerSelID(es *EndpointSelector) (int32, error) {
	k := peerSelKey{reflect.ValueOf(es.MatchLabels).UnsafePointer(), unsafe.SliceData(es.MatchExpressions),
		len(es.MatchExpressions), c.ns, c.matchesInit}
	if id, ok := c.e.peerSelIDs[k]; ok {
		return id, nil
	}
	s, err := c.peerSel(es)
	if err != nil {
		return 0, err
	}
	id := c.e.internSel(s)
	c.e.peerSelIDs[k] = id
	return id, nil
}

func reservedSel(name string) labelSel {
	return labelSel{reqs: []selReq{{src: flow.SourceReserved, key: name, op: opExists}}}
}

// entitySels maps an entity to selectors as Cilium's EntitySelectorMapping
// does.
func (c *ruleCompiler) entitySels(ent string) ([]labelSel, error) {
	switch ent {
	case EntityAll:
		return []labelSel{{}}, nil
	case EntityWorld:
		return []labelSel{reservedSel("world"), reservedSel("world-ipv4"), reservedSel("world-ipv6")}, nil
	case EntityWorldIPv4, EntityWorldIPv6, EntityHost, EntityInit, EntityIngress,
		EntityRemoteNode, EntityHealth, EntityUnmanaged, EntityKubeAPIServer, EntityNone:
		return []labelSel{reservedSel(ent)}, nil
	case EntityCluster, "cluster-mesh":
		out := []labelSel{
			reservedSel("host"), reservedSel("remote-node"), reservedSel("init"),
			reservedSel("ingress"), reservedSel("health"), reservedSel("unmanaged"),
			reservedSel("kube-apiserver"),
		}
		switch {
		case ent == "cluster-mesh":
			out = append(out,
				labelSel{reqs: []selReq{{src: flow.SourceAny, key: keyCluster, op: opExists}}},
				labelSel{reqs: []selReq{{src: flow.SourceK8s, key: keyNamespace, op: opExists}}})
		case c.e.opts.ClusterName != "":
			out = append(out, labelSel{reqs: []selReq{{src: flow.SourceK8s, key: keyCluster, op: opIn, values: []string{c.e.opts.ClusterName}}}})
		default:
			// Every pod carries the namespace label; evidence without the
			// cluster label still counts as this cluster.
			out = append(out, labelSel{reqs: []selReq{{src: flow.SourceK8s, key: keyNamespace, op: opExists}}})
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown entity %q", ent)
}

// commonPeers compiles the selector lists shared by ingress and egress.
func (c *ruleCompiler) commonPeers(en *entry, dir string, eps, reqs, nodes []EndpointSelector,
	cidrs []string, cidrSets []CIDRRule, entities []string, groups int) error {
	// Cilium: an explicitly empty list selects nothing, even with ports.
	if (eps != nil && len(eps) == 0) || (nodes != nil && len(nodes) == 0) ||
		(entities != nil && len(entities) == 0) || (cidrs != nil && len(cidrs) == 0) ||
		(cidrSets != nil && len(cidrSets) == 0) {
		en.none = true
	}
	for i := range eps {
		id, err := c.peerSelID(&eps[i])
		if err != nil {
			return fmt.Errorf("%sEndpoints[%d].%w", dir, i, err)
		}
		en.epSels = append(en.epSels, id)
	}
	for i := range reqs {
		id, err := c.peerSelID(&reqs[i])
		if err != nil {
			return fmt.Errorf("%sRequires[%d].%w", dir, i, err)
		}
		en.reqSels = append(en.reqSels, id)
	}
	for i := range nodes {
		s, err := newLabelSel(&nodes[i])
		if err != nil {
			return fmt.Errorf("%sNodes[%d].%w", dir, i, err)
		}
		s.add(selReq{src: flow.SourceReserved, key: "remote-node", op: opExists})
		en.lblSels = append(en.lblSels, c.e.internSel(s))
	}
	for i, ent := range entities {
		ss, err := c.entitySels(ent)
		if err != nil {
			return fmt.Errorf("%sEntities[%d]: %w", dir, i, err)
		}
		for _, s := range ss {
			en.lblSels = append(en.lblSels, c.e.internSel(s))
		}
	}
	for i, s := range cidrs {
		cs, err := newCIDRSel(CIDRRule{CIDR: s})
		if err != nil {
			return fmt.Errorf("%sCIDR[%d]: %w", dir, i, err)
		}
		en.cidrSels = append(en.cidrSels, int32(len(c.e.cidrs)))
		c.e.cidrs = append(c.e.cidrs, cs)
	}
	for i, cr := range cidrSets {
		if cr.CIDR == "" {
			en.unresolved = append(en.unresolved, fmt.Sprintf("%sCIDRSet[%d] (CIDR group)", dir, i))
			continue
		}
		cs, err := newCIDRSel(cr)
		if err != nil {
			return fmt.Errorf("%sCIDRSet[%d]: %w", dir, i, err)
		}
		en.cidrSels = append(en.cidrSels, int32(len(c.e.cidrs)))
		c.e.cidrs = append(c.e.cidrs, cs)
	}
	if groups > 0 {
		en.unresolved = append(en.unresolved, dir+"Groups")
	}
	return nil
}

func (c *ruleCompiler) ingressPeers(en *entry, r *IngressCommonRule) error {
	return c.commonPeers(en, "from", r.FromEndpoints, r.FromRequires, r.FromNodes,
		r.FromCIDR, r.FromCIDRSet, r.FromEntities, len(r.FromGroups))
}

func (c *ruleCompiler) egressPeers(en *entry, r *EgressCommonRule, fqdns []FQDNSelector) error {
	if err := c.commonPeers(en, "to", r.ToEndpoints, r.ToRequires, r.ToNodes,
		r.ToCIDR, r.ToCIDRSet, r.ToEntities, len(r.ToGroups)); err != nil {
		return err
	}
	if len(r.ToServices) > 0 {
		// Cilium resolves toServices from the cluster's Services and
		// EndpointSlices (selectorless Services only); flows do not carry
		// that, so these peers select nothing here.
		en.unresolved = append(en.unresolved, "toServices")
	}
	for i, f := range fqdns {
		m, err := newDNSMatcher(f.MatchName, f.MatchPattern)
		if err != nil {
			return fmt.Errorf("toFQDNs[%d]: %w", i, err)
		}
		en.fqdnSels = append(en.fqdnSels, c.e.internFQDN(m))
	}
	return nil
}

// ports compiles toPorts (allow or deny form) and icmps. A rule without
// either is L3-only: every protocol and port, ICMP included.
func (c *ruleCompiler) ports(en *entry, allow []PortRule, deny []PortDenyRule, icmps []ICMPRule) error {
	if len(allow)+len(deny)+len(icmps) > 0 {
		en.hasL4 = true
	}
	for i := range allow {
		pr := &allow[i]
		l7, err := c.l7Rules(pr.Rules)
		if err != nil {
			return fmt.Errorf("toPorts[%d].rules.%w", i, err)
		}
		for j, pp := range pr.Ports {
			m, err := parsePortProtocol(pp)
			if err != nil {
				return fmt.Errorf("toPorts[%d].ports[%d]: %w", i, j, err)
			}
			m.l7 = l7
			en.ports = append(en.ports, m)
		}
	}
	for i := range deny {
		for j, pp := range deny[i].Ports {
			m, err := parsePortProtocol(pp)
			if err != nil {
				return fmt.Errorf("toPorts[%d].ports[%d]: %w", i, j, err)
			}
			en.ports = append(en.ports, m)
		}
	}
	for i := range icmps {
		for j, f := range icmps[i].Fields {
			m, err := parseICMP(f)
			if err != nil {
				return fmt.Errorf("icmps[%d].fields[%d]: %w", i, j, err)
			}
			en.ports = append(en.ports, m)
		}
	}
	// No peers of any kind but ports: Cilium treats the rule as L3
	// wildcard. Peers that could not be resolved still count as peers.
	if !en.none && len(en.epSels)+len(en.lblSels)+len(en.cidrSels)+len(en.fqdnSels)+len(en.unresolved) == 0 {
		en.all = en.hasL4
		en.none = !en.hasL4
	}
	return nil
}

// dnsRulesKey knows a DNS rule list by its address: generated sets give
// many port rules one list, whose patterns need compiling once.
type dnsRulesKey struct {
	rules *PortRuleDNS
	n     int
}

// l7Rules is newL7Rules, remembered for port rules with only DNS rules.
func (c *ruleCompiler) l7Rules(r *L7Rules) (*l7Rules, error) {
	if r == nil || len(r.DNS) == 0 || len(r.HTTP)+len(r.Kafka)+len(r.L7) > 0 || r.L7Proto != "" {
		return newL7Rules(r)
	}
	k := dnsRulesKey{unsafe.SliceData(r.DNS), len(r.DNS)}
	if l7, ok := c.e.dnsRules[k]; ok {
		return l7, nil
	}
	l7, err := newL7Rules(r)
	if err != nil {
		return nil, err
	}
	c.e.dnsRules[k] = l7
	return l7, nil
}

// matchL4 reports whether the rule's ports admit the flow's protocol and
// port; a rule without ports admits everything.
func (en *entry) matchL4(proto flow.Protocol, port uint16) bool {
	if !en.hasL4 {
		return true
	}
	for i := range en.ports {
		if en.ports[i].matches(proto, port) {
			return true
		}
	}
	return false
}

func (en *entry) couldMatchNamed(proto flow.Protocol) bool {
	for i := range en.ports {
		if en.ports[i].couldMatchNamed(proto) {
			return true
		}
	}
	return false
}

// l7For returns the L7 rules of the first port entry admitting the flow.
// A port listed both with and without L7 rules is unrestricted at L7.
func (en *entry) l7For(proto flow.Protocol, port uint16) *l7Rules {
	var out *l7Rules
	for i := range en.ports {
		m := &en.ports[i]
		if !m.matches(proto, port) {
			continue
		}
		if m.l7 == nil {
			return nil
		}
		out = m.l7
	}
	return out
}
