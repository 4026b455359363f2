package conformance

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Case is one generated policy set with the flows to ask both engines.
type Case struct {
	Seed     uint64
	Policies []*policy.Policy
	Flows    []flow.Flow
}

// Generator draws random policy sets over the L3/L4 language from a
// universe; selectors are built from labels the universe's pods really
// carry so that most rules select something.
type Generator struct {
	U   *Universe
	rnd *rand.Rand
}

// NewGenerator returns a generator with a fixed seed.
func NewGenerator(u *Universe, seed uint64) *Generator {
	return &Generator{U: u, rnd: rand.New(rand.NewPCG(seed, 0x706f7374757265))}
}

func (g *Generator) intn(n int) int        { return g.rnd.IntN(n) }
func (g *Generator) chance(p float64) bool { return g.rnd.Float64() < p }
func pick[T any](g *Generator, xs []T) T   { return xs[g.intn(len(xs))] }

// Case generates one policy set and flowsPerCase flows.
func (g *Generator) Case(seed uint64, flowsPerCase int) Case {
	c := Case{Seed: seed}
	n := 1 + g.intn(3)
	for i := range n {
		c.Policies = append(c.Policies, g.policy(i))
	}
	for range flowsPerCase {
		c.Flows = append(c.Flows, g.flow())
	}
	return c
}

var ports = []int{53, 80, 443, 8080, 9090}

func (g *Generator) flow() flow.Flow {
	pods := g.U.Pods()
	var src, dst Peer
	// At least one end enforces policy; mostly pod to pod.
	if g.chance(0.6) {
		src, dst = pick(g, pods), pick(g, pods)
	} else {
		for {
			src, dst = pick(g, g.U.Peers), pick(g, g.U.Peers)
			if Enforcing(&src.Endpoint) || Enforcing(&dst.Endpoint) {
				break
			}
		}
	}
	f := flow.Flow{Source: src.Endpoint, Destination: dst.Endpoint}
	switch r := g.intn(10); {
	case r < 6:
		f.Protocol = flow.ProtoTCP
	case r < 9:
		f.Protocol = flow.ProtoUDP
	default:
		f.Protocol = flow.ProtoSCTP
	}
	if g.chance(0.8) {
		f.DstPort = uint16(pick(g, ports) + g.intn(2)*g.intn(3))
	} else {
		f.DstPort = uint16(1 + g.intn(65535))
	}
	f.SrcPort = 40000
	if g.chance(0.1) {
		// ICMP: the type is what policy matches (LookupFlow cannot ask
		// about type 0, echo reply, which is a reply anyway).
		f.SrcPort, f.DstPort = 0, 0
		f.Protocol = flow.ProtoICMP
		f.ICMPType = pick(g, []uint8{8, 3, 11, 80})
		if g.chance(0.3) {
			f.Protocol = flow.ProtoICMPv6
			f.ICMPType = pick(g, []uint8{128, 1, 135, 8})
		}
	}
	return f
}

func (g *Generator) policy(i int) *policy.Policy {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.KindCNP}
	ns := pick(g, g.U.Namespaces).Name
	if g.chance(0.25) {
		p.Kind = policy.KindCCNP
		ns = ""
	}
	p.Metadata = policy.ObjectMeta{Name: "p" + strconv.Itoa(i), Namespace: ns}
	r := g.rule(ns)
	if g.chance(0.15) {
		p.Specs = []policy.Rule{*r, *g.rule(ns)}
	} else {
		p.Spec = r
	}
	return p
}

// rule generates a rule that Cilium's sanitizer accepts: at least one
// section, one kind of L3 peer per rule.
func (g *Generator) rule(ns string) *policy.Rule {
	r := &policy.Rule{EndpointSelector: g.selector(ns, true)}
	for len(r.Ingress)+len(r.Egress)+len(r.IngressDeny)+len(r.EgressDeny) == 0 {
		if g.chance(0.6) {
			for range 1 + g.intn(2) {
				c, ports := g.ingressPeer(ns), g.portRules()
				in := policy.IngressRule{IngressCommonRule: c, ToPorts: ports}
				if ports == nil {
					in.ICMPs = g.icmps()
				}
				r.Ingress = append(r.Ingress, in)
			}
		}
		if g.chance(0.5) {
			for range 1 + g.intn(2) {
				c, ports := g.egressPeer(ns), g.portRules()
				eg := policy.EgressRule{EgressCommonRule: c, ToPorts: ports}
				if ports == nil {
					eg.ICMPs = g.icmps()
				}
				r.Egress = append(r.Egress, eg)
			}
		}
		if g.chance(0.2) {
			d := policy.IngressDenyRule{IngressCommonRule: g.ingressPeer(ns), ToPorts: denyPorts(g.portRules())}
			if d.ToPorts == nil {
				d.ICMPs = g.icmps()
			}
			r.IngressDeny = append(r.IngressDeny, d)
		}
		if g.chance(0.2) {
			d := policy.EgressDenyRule{EgressCommonRule: g.egressPeer(ns), ToPorts: denyPorts(g.portRules())}
			if d.ToPorts == nil {
				d.ICMPs = g.icmps()
			}
			r.EgressDeny = append(r.EgressDeny, d)
		}
	}
	if g.chance(0.3) {
		r.EnableDefaultDeny = &policy.DefaultDenyConfig{Ingress: g.optBool(), Egress: g.optBool()}
	}
	return r
}

func (g *Generator) optBool() *bool {
	switch g.intn(3) {
	case 0:
		return nil
	case 1:
		t := true
		return &t
	}
	f := false
	return &f
}

func denyPorts(prs []policy.PortRule) []policy.PortDenyRule {
	var out []policy.PortDenyRule
	for _, pr := range prs {
		out = append(out, policy.PortDenyRule{Ports: pr.Ports})
	}
	return out
}

var entities = []string{
	policy.EntityAll, policy.EntityWorld, policy.EntityCluster, policy.EntityHost, policy.EntityRemoteNode,
	policy.EntityKubeAPIServer, policy.EntityHealth, policy.EntityInit, policy.EntityIngress, policy.EntityUnmanaged,
	policy.EntityNone,
}

// cidrs contain, overlap and miss the universe's world IPs.
var cidrs = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "192.168.0.0/16", "203.0.113.0/24", "203.0.113.128/25", "0.0.0.0/0", "8.8.8.8/32", "172.16.0.0/12"}

// cidrs6 are drawn too in dual stack.
var cidrs6 = []string{"2001:db8::/32", "2001:db8:1::/48", "::/0", "2606:4700::1111/128"}

func (g *Generator) cidr() string {
	if g.U.DualStack && g.chance(0.3) {
		return pick(g, cidrs6)
	}
	return pick(g, cidrs)
}

type peerKind int

const (
	peerNone peerKind = iota // L4-only or empty rule
	peerEndpoints
	peerEntities
	peerCIDR
	peerCIDRSet
)

func (g *Generator) peerKind() peerKind {
	switch r := g.intn(20); {
	case r < 2:
		return peerNone
	case r < 11:
		return peerEndpoints
	case r < 15:
		return peerEntities
	case r < 17:
		return peerCIDR
	default:
		return peerCIDRSet
	}
}

func (g *Generator) ingressPeer(ns string) policy.IngressCommonRule {
	var c policy.IngressCommonRule
	switch g.peerKind() {
	case peerEndpoints:
		for range 1 + g.intn(2) {
			c.FromEndpoints = append(c.FromEndpoints, *g.selector(ns, false))
		}
	case peerEntities:
		c.FromEntities = g.entities()
	case peerCIDR:
		c.FromCIDR = g.cidrList()
	case peerCIDRSet:
		c.FromCIDRSet = g.cidrSet()
	}
	return c
}

func (g *Generator) egressPeer(ns string) policy.EgressCommonRule {
	var c policy.EgressCommonRule
	switch g.peerKind() {
	case peerEndpoints:
		for range 1 + g.intn(2) {
			c.ToEndpoints = append(c.ToEndpoints, *g.selector(ns, false))
		}
	case peerEntities:
		c.ToEntities = g.entities()
	case peerCIDR:
		c.ToCIDR = g.cidrList()
	case peerCIDRSet:
		c.ToCIDRSet = g.cidrSet()
	}
	return c
}

func (g *Generator) entities() []string {
	var out []string
	for range 1 + g.intn(2) {
		out = append(out, pick(g, entities))
	}
	return out
}

func (g *Generator) cidrList() []string {
	var out []string
	for range 1 + g.intn(2) {
		out = append(out, g.cidr())
	}
	return out
}

// excepts lists carve-outs for each CIDR that Cilium accepts (contained in
// the CIDR).
var excepts = map[string][]string{
	"10.0.0.0/8":       {"10.1.0.0/16", "10.1.2.3/32", "10.0.0.0/24"},
	"10.1.0.0/16":      {"10.1.2.3/32", "10.1.128.0/17"},
	"192.168.0.0/16":   {"192.168.1.0/24"},
	"203.0.113.0/24":   {"203.0.113.128/25", "203.0.113.7/32"},
	"0.0.0.0/0":        {"10.0.0.0/8", "203.0.113.0/24"},
	"172.16.0.0/12":    {"172.16.0.0/16"},
	"2001:db8::/32":    {"2001:db8:1::/48"},
	"::/0":             {"2001:db8::/32"},
	"203.0.113.128/25": {"203.0.113.200/32"},
}

func (g *Generator) cidrSet() []policy.CIDRRule {
	var out []policy.CIDRRule
	for range 1 + g.intn(2) {
		c := g.cidr()
		cr := policy.CIDRRule{CIDR: c}
		if ex := excepts[c]; len(ex) > 0 && g.chance(0.7) {
			cr.Except = append(cr.Except, pick(g, ex))
		}
		out = append(out, cr)
	}
	return out
}

// icmps sometimes returns ICMP rules (only for rules without toPorts, as
// Cilium requires), by number or by name, IPv4 or IPv6.
func (g *Generator) icmps() []policy.ICMPRule {
	if !g.chance(0.25) {
		return nil
	}
	var r policy.ICMPRule
	for range 1 + g.intn(2) {
		f := policy.ICMPField{}
		switch g.intn(5) {
		case 0:
			f.Type = policy.IntOrStr{IsStr: true, Str: "EchoRequest"}
		case 1:
			f.Family = "IPv6"
			f.Type = policy.IntOrStr{IsStr: true, Str: "EchoRequest"}
		case 2:
			f.Family = "IPv6"
			f.Type = policy.IntOrStr{Int: int32(pick(g, []int{128, 135, 1}))}
		default:
			if g.chance(0.5) {
				f.Family = "IPv4"
			}
			f.Type = policy.IntOrStr{Int: int32(pick(g, []int{8, 3, 11}))}
		}
		r.Fields = append(r.Fields, f)
	}
	return []policy.ICMPRule{r}
}

func (g *Generator) portRules() []policy.PortRule {
	if g.chance(0.4) {
		return nil
	}
	var pr policy.PortRule
	for range 1 + g.intn(2) {
		pp := policy.PortProtocol{Port: strconv.Itoa(pick(g, ports))}
		if g.chance(0.15) {
			pp.Port = strconv.Itoa(1 + g.intn(65535))
		}
		if g.chance(0.2) {
			p, _ := strconv.Atoi(pp.Port)
			pp.EndPort = int32(min(65535, p+g.intn(3)*g.intn(50)))
		}
		if g.chance(0.05) {
			pp.Port = "0" // port 0 with a protocol: every port of it
			pp.EndPort = 0
		}
		pp.Protocol = pick(g, []string{"TCP", "TCP", "UDP", "ANY", "", "SCTP"})
		pr.Ports = append(pr.Ports, pp)
	}
	return []policy.PortRule{pr}
}

// selector draws an endpoint selector. subject selectors of a CNP are
// scoped to its namespace by Cilium; peer selectors may cross namespaces
// by naming io.kubernetes.pod.namespace or namespace labels.
func (g *Generator) selector(ns string, subject bool) *policy.EndpointSelector {
	if g.chance(0.15) {
		return &policy.EndpointSelector{} // {}: every endpoint (in the namespace for a CNP)
	}
	pods := g.U.Pods()
	anchor := pick(g, pods)
	es := &policy.EndpointSelector{}
	var plain []flow.Label
	for _, l := range anchor.Endpoint.Labels {
		switch l.Key {
		case flow.LabelNamespace, flow.LabelCluster:
		default:
			plain = append(plain, l)
		}
	}
	sort.Slice(plain, func(i, j int) bool { return plain[i].Key < plain[j].Key })
	prefix := func() string { return pick(g, []string{"", "", "", "k8s:", "any:"}) }
	nsKey := func() string {
		return pick(g, []string{"io.kubernetes.pod.namespace", "k8s:io.kubernetes.pod.namespace"})
	}
	for range 1 + g.intn(2) {
		l := pick(g, plain)
		switch r := g.intn(10); {
		case r < 6:
			if es.MatchLabels == nil {
				es.MatchLabels = map[string]string{}
			}
			es.MatchLabels[prefix()+l.Key] = l.Value
		case r < 7:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + l.Key, Operator: policy.OpIn, Values: []string{l.Value, "other"}})
		case r < 8:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + l.Key, Operator: policy.OpNotIn, Values: []string{l.Value}})
		case r < 9:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + l.Key, Operator: policy.OpExists})
		default:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + pick(g, []string{"role", "version", "tier"}), Operator: policy.OpDoesNotExist})
		}
	}
	crossNS := !subject || ns == ""
	if crossNS && g.chance(0.35) {
		if es.MatchLabels == nil {
			es.MatchLabels = map[string]string{}
		}
		target := anchor.Endpoint.Namespace
		if g.chance(0.2) {
			target = pick(g, g.U.Namespaces).Name
		}
		if g.chance(0.3) {
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: nsKey(), Operator: policy.OpIn, Values: []string{target, "nowhere"}})
		} else {
			es.MatchLabels[nsKey()] = target
		}
	} else if subject && ns != "" && g.chance(0.05) {
		// Cilium drops a subject namespace match that is not the policy's own.
		if es.MatchLabels == nil {
			es.MatchLabels = map[string]string{}
		}
		es.MatchLabels[flow.LabelNamespace] = ns
	}
	if len(es.MatchLabels) == 0 {
		es.MatchLabels = nil
	}
	return es
}

// String is a short summary for logs.
func (c Case) String() string {
	return fmt.Sprintf("case seed=%d policies=%d flows=%d", c.Seed, len(c.Policies), len(c.Flows))
}
