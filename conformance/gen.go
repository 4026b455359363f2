package conformance

import (
	"fmt"
	"math/rand/v2"
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

// String is a short summary for logs.
func (c Case) String() string {
	return fmt.Sprintf("case seed=%d policies=%d flows=%d", c.Seed, len(c.Policies), len(c.Flows))
}
