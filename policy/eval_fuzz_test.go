package policy

import (
	"fmt"
	"testing"

	"github.com/posture-dev/posture/flow"
)

// gen turns fuzz bytes into choices; when the bytes run out every choice
// is 0, so any input yields a finite, valid program.
type gen struct {
	b []byte
	i int
}

func (g *gen) n(k int) int {
	if k <= 1 || g.i >= len(g.b) {
		if g.i < len(g.b) {
			g.i++
		}
		return 0
	}
	v := int(g.b[g.i]) % k
	g.i++
	return v
}

func (g *gen) bool() bool { return g.n(2) == 1 }

func pickOf[T any](g *gen, xs ...T) T { return xs[g.n(len(xs))] }

var (
	fzNamespaces = []string{"a", "b", "kube-system"}
	fzKeys       = []string{"app", "tier", "k8s:app", "any:env", "io.kubernetes.pod.namespace",
		"k8s:io.cilium.k8s.namespace.labels.team", "reserved:host", "kubernetes.io/metadata.name"}
	fzValues   = []string{"web", "api", "db", "a", "b", "blue", "", "prod"}
	fzEntities = []string{"all", "world", "cluster", "host", "remote-node", "kube-apiserver",
		"health", "init", "none", "world-ipv4", "ingress", "unmanaged", "cluster-mesh"}
	fzCIDRs = []CIDRRule{{CIDR: "10.0.0.0/8"}, {CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}},
		{CIDR: "0.0.0.0/0"}, {CIDR: "1.2.3.4/32"}, {CIDR: "192.168.1.0/24"}, {CIDR: "::/0"}}
	fzFQDNs = []FQDNSelector{{MatchName: "api.example.com"}, {MatchPattern: "*.example.com"},
		{MatchPattern: "**.example.org"}, {MatchPattern: "*"}}
	fzPorts = []PortProtocol{{Port: "80", Protocol: "TCP"}, {Port: "443"}, {Port: "0", Protocol: "UDP"},
		{Port: "53", Protocol: "ANY"}, {Port: "8080", EndPort: 8090, Protocol: "TCP"}, {Port: "http", Protocol: "TCP"},
		{Port: "53", Protocol: "SCTP"}}
)

func (g *gen) selector() EndpointSelector {
	var s EndpointSelector
	for range g.n(3) {
		if s.MatchLabels == nil {
			s.MatchLabels = map[string]string{}
		}
		s.MatchLabels[pickOf(g, fzKeys...)] = pickOf(g, fzValues...)
	}
	for range g.n(2) {
		op := pickOf(g, OpIn, OpNotIn, OpExists, OpDoesNotExist)
		r := LabelSelectorReq{Key: pickOf(g, fzKeys...), Operator: op}
		if op == OpIn || op == OpNotIn {
			r.Values = []string{pickOf(g, fzValues...), pickOf(g, fzValues...)}
		}
		s.MatchExpressions = append(s.MatchExpressions, r)
	}
	return s
}

func (g *gen) selectors() []EndpointSelector {
	out := []EndpointSelector{}
	for range g.n(3) {
		out = append(out, g.selector())
	}
	return out
}

func (g *gen) portRules(l7 bool) []PortRule {
	var out []PortRule
	for range g.n(3) {
		pr := PortRule{}
		for range 1 + g.n(2) {
			pr.Ports = append(pr.Ports, pickOf(g, fzPorts...))
		}
		if l7 {
			switch g.n(3) {
			case 1:
				pr.Rules = &L7Rules{HTTP: []PortRuleHTTP{{Method: "GET", Path: "/public/.*"}, {Method: pickOf(g, "POST", ""), Headers: pickOf(g, []string(nil), []string{"X-A: 1"})}}}
			case 2:
				pr.Rules = &L7Rules{DNS: []PortRuleDNS{{MatchPattern: "*.example.com"}}}
			}
		}
		out = append(out, pr)
	}
	return out
}

func (g *gen) icmps() []ICMPRule {
	if !g.bool() || !g.bool() {
		return nil
	}
	return []ICMPRule{{Fields: []ICMPField{{Type: IntOrStr{Int: int32(pickOf(g, 0, 8))}}, {Family: "IPv6", Type: IntOrStr{IsStr: true, Str: "EchoRequest"}}}}}
}

func (g *gen) ingressCommon() IngressCommonRule {
	var c IngressCommonRule
	switch g.n(6) {
	case 1:
		c.FromEndpoints = g.selectors()
	case 2:
		c.FromEntities = []string{pickOf(g, fzEntities...), pickOf(g, fzEntities...)}
	case 3:
		c.FromCIDRSet = []CIDRRule{pickOf(g, fzCIDRs...)}
	case 4:
		c.FromEndpoints = g.selectors()
		c.FromRequires = []EndpointSelector{g.selector()}
	case 5:
		c.FromCIDR = []string{pickOf(g, "10.0.0.0/8", "1.2.3.4")}
	}
	return c
}

func (g *gen) egressCommon() EgressCommonRule {
	c := EgressCommonRule{}
	switch g.n(6) {
	case 1:
		c.ToEndpoints = g.selectors()
	case 2:
		c.ToEntities = []string{pickOf(g, fzEntities...)}
	case 3:
		c.ToCIDRSet = []CIDRRule{pickOf(g, fzCIDRs...), pickOf(g, fzCIDRs...)}
	case 4:
		c.ToEndpoints = g.selectors()
		c.ToRequires = []EndpointSelector{g.selector()}
	case 5:
		c.ToServices = []Service{{K8sService: &K8sServiceNamespace{ServiceName: "s"}}}
	}
	return c
}

func (g *gen) rule() Rule {
	var r Rule
	sel := g.selector()
	r.EndpointSelector = &sel
	if g.bool() {
		b := func() *bool { v := g.bool(); return &v }
		r.EnableDefaultDeny = &DefaultDenyConfig{Ingress: b(), Egress: b()}
	}
	for range g.n(3) {
		r.Ingress = append(r.Ingress, IngressRule{IngressCommonRule: g.ingressCommon(), ToPorts: g.portRules(true), ICMPs: g.icmps()})
	}
	for range g.n(2) {
		dr := IngressDenyRule{IngressCommonRule: g.ingressCommon(), ICMPs: g.icmps()}
		for _, pr := range g.portRules(false) {
			dr.ToPorts = append(dr.ToPorts, PortDenyRule{Ports: pr.Ports})
		}
		r.IngressDeny = append(r.IngressDeny, dr)
	}
	for range g.n(3) {
		er := EgressRule{EgressCommonRule: g.egressCommon(), ToPorts: g.portRules(true), ICMPs: g.icmps()}
		if g.n(4) == 0 {
			er.EgressCommonRule = EgressCommonRule{}
			er.ToFQDNs = []FQDNSelector{pickOf(g, fzFQDNs...)}
		}
		r.Egress = append(r.Egress, er)
	}
	for range g.n(2) {
		dr := EgressDenyRule{EgressCommonRule: g.egressCommon()}
		for _, pr := range g.portRules(false) {
			dr.ToPorts = append(dr.ToPorts, PortDenyRule{Ports: pr.Ports})
		}
		r.EgressDeny = append(r.EgressDeny, dr)
	}
	return r
}

func (g *gen) policies() []*Policy {
	var ps []*Policy
	for i := range 1 + g.n(4) {
		p := &Policy{APIVersion: APIVersion, Kind: KindCNP, Metadata: ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: pickOf(g, fzNamespaces...)}}
		if g.n(4) == 0 {
			p.Kind, p.Metadata.Namespace = KindCCNP, ""
		}
		r := g.rule()
		p.Spec = &r
		if g.n(4) == 0 {
			p.Specs = []Rule{g.rule()}
		}
		ps = append(ps, p)
	}
	return ps
}

func (g *gen) endpoint() flow.Endpoint {
	switch g.n(5) {
	case 0, 1:
		ns := pickOf(g, fzNamespaces...)
		ls := []string{"k8s:io.kubernetes.pod.namespace=" + ns, "k8s:app=" + pickOf(g, "web", "api", "db")}
		if g.bool() {
			ls = append(ls, "k8s:io.cilium.k8s.namespace.labels.team=blue")
		}
		if g.bool() {
			ls = append(ls, "k8s:env=prod")
		}
		return flow.Endpoint{Namespace: ns, Identity: flow.Identity(pickOf(g, 0, 1000, 1001)), Labels: flow.NewLabels(ls...)}
	case 2:
		id := flow.Identity(1 + g.n(10))
		return flow.Endpoint{Identity: id, Labels: flow.ReservedLabels(id)}
	case 3:
		return flow.Endpoint{Identity: flow.IdentityWorld, IP: pickOf(g, "10.1.2.3", "10.2.0.1", "1.2.3.4", "8.8.8.8", "2001:db8::1", ""),
			Names: pickOf(g, []string(nil), []string{"api.example.com"}, []string{"a.b.example.org", "x.example.com"})}
	}
	return flow.Endpoint{Identity: flow.IdentityMinLocal + flow.Identity(g.n(3)), IP: pickOf(g, "192.168.1.9", "1.2.3.4"),
		Labels: flow.NewLabels("reserved:world")}
}

func (g *gen) flow() *flow.Flow {
	f := &flow.Flow{Source: g.endpoint(), Destination: g.endpoint(), IsReply: g.n(8) == 0}
	switch g.n(5) {
	case 0, 1:
		f.Protocol = flow.ProtoTCP
	case 2:
		f.Protocol = flow.ProtoUDP
	case 3:
		f.Protocol = pickOf(g, flow.ProtoICMP, flow.ProtoICMPv6)
		f.ICMPType = pickOf(g, uint8(0), 8, 128)
	case 4:
		f.Protocol = flow.ProtoSCTP
	}
	if f.Protocol != flow.ProtoICMP && f.Protocol != flow.ProtoICMPv6 {
		f.DstPort = pickOf(g, uint16(80), 443, 53, 8085, 9999)
	}
	switch g.n(3) {
	case 1:
		f.HTTP = &flow.HTTP{Method: pickOf(g, "GET", "POST"), Path: pickOf(g, "/public/x", "/private")}
	case 2:
		f.DNS = &flow.DNS{Query: pickOf(g, "www.example.com", "evil.net")}
	}
	return f
}

func checkResult(t *testing.T, what string, r Result) {
	t.Helper()
	if r.Verdict != combine(r.Egress.Decision, r.Ingress.Decision) {
		t.Fatalf("%s: verdict %v from %v/%v", what, r.Verdict, r.Egress.Decision, r.Ingress.Decision)
	}
	for _, d := range []DirectionResult{r.Egress, r.Ingress} {
		if d.Decision == Denied && len(d.Rules) == 0 {
			t.Fatalf("%s: denied without a rule", what)
		}
		if d.Decision == NotSelected && len(d.Rules) > 0 {
			t.Fatalf("%s: not selected but rules %v", what, d.Rules)
		}
		if d.Reason == "" {
			t.Fatalf("%s: no reason", what)
		}
	}
}

// FuzzEvaluate compiles random policy sets (generated from the bytes, and
// the bytes themselves read as YAML) and evaluates random flows: it must
// never panic, must agree with the naive evaluator, and enforcing default
// deny may only take allows away.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x, namespace: a}\nspec:\n  endpointSelector: {}\n  ingress: [{}]\n"))
	f.Add([]byte("\x00\x01\x01\x02\x03\x01\x04\x00\x02\x01\x05\x03\x02\x01\x00\x04\x03\x02\x01\x01\x01\x02\x02\x03\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		ps := g.policies()
		if loaded, err := LoadBytes("fuzz.yaml", data); err == nil {
			ps = append(ps, loaded...)
		}
		written, err := Compile(ps, CompileOptions{})
		if err != nil {
			return
		}
		enforced, err := Compile(ps, CompileOptions{AsEnforced: true})
		if err != nil {
			t.Fatalf("compiles as written but not as enforced: %v", err)
		}
		for i := range 8 {
			fl := g.flow()
			what := fmt.Sprintf("flow %d %+v", i, fl)
			r := written.Evaluate(fl)
			checkResult(t, what, r)
			if n := naiveEvaluate(written, fl); n.Egress.Decision != r.Egress.Decision || n.Ingress.Decision != r.Ingress.Decision {
				t.Fatalf("%s: engine %v/%v, naive %v/%v", what, r.Egress.Decision, r.Ingress.Decision, n.Egress.Decision, n.Ingress.Decision)
			}
			if again := written.Evaluate(fl); again.Verdict != r.Verdict {
				t.Fatalf("%s: %v then %v", what, r.Verdict, again.Verdict)
			}
			re := enforced.Evaluate(fl)
			checkResult(t, what, re)
			if re.Verdict.Allows() && !r.Verdict.Allows() {
				t.Fatalf("%s: as enforced %v but as written %v", what, re.Verdict, r.Verdict)
			}
		}
	})
}
