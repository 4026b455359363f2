package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/posture-dev/posture/flow"
)

// cnp builds a CiliumNetworkPolicy from a JSON spec (tests stay readable
// without depending on the YAML loader).
func cnp(t testing.TB, ns, name, spec string) *Policy {
	t.Helper()
	p := &Policy{APIVersion: APIVersion, Kind: KindCNP, Metadata: ObjectMeta{Name: name, Namespace: ns}}
	p.Spec = &Rule{}
	if err := json.Unmarshal([]byte(spec), p.Spec); err != nil {
		t.Fatalf("spec of %s: %v", name, err)
	}
	return p
}

func ccnp(t testing.TB, name, spec string) *Policy {
	t.Helper()
	p := cnp(t, "", name, spec)
	p.Kind = KindCCNP
	return p
}

func pod(ns string, labels ...string) flow.Endpoint {
	ls := []string{"k8s:io.kubernetes.pod.namespace=" + ns}
	for _, l := range labels {
		ls = append(ls, "k8s:"+l)
	}
	return flow.Endpoint{Namespace: ns, Labels: flow.NewLabels(ls...)}
}

func reserved(id flow.Identity) flow.Endpoint {
	return flow.Endpoint{Identity: id, Labels: flow.ReservedLabels(id)}
}

func world(ip string, names ...string) flow.Endpoint {
	return flow.Endpoint{Identity: flow.IdentityWorld, IP: ip, Labels: flow.NewLabels("reserved:world"), Names: names}
}

func tcp(src, dst flow.Endpoint, port uint16) *flow.Flow {
	return &flow.Flow{Source: src, Destination: dst, Protocol: flow.ProtoTCP, DstPort: port}
}

func udp(src, dst flow.Endpoint, port uint16) *flow.Flow {
	return &flow.Flow{Source: src, Destination: dst, Protocol: flow.ProtoUDP, DstPort: port}
}

type evalCase struct {
	name     string
	flow     *flow.Flow
	egress   Decision
	ingress  Decision
	rule     string // a rule expected among the deciding rules ("" = none checked)
	reason   string // substring of the deciding direction's reason
	enforced bool   // compile with AsEnforced
}

func runCases(t *testing.T, ps []*Policy, cases []evalCase) {
	t.Helper()
	engines := map[bool]*Engine{}
	for _, enf := range []bool{false, true} {
		e, err := Compile(ps, CompileOptions{AsEnforced: enf})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		engines[enf] = e
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := engines[c.enforced].Evaluate(c.flow)
			if r.Egress.Decision != c.egress || r.Ingress.Decision != c.ingress {
				t.Fatalf("egress %v (%s), ingress %v (%s); want egress %v, ingress %v",
					r.Egress.Decision, r.Egress.Reason, r.Ingress.Decision, r.Ingress.Reason, c.egress, c.ingress)
			}
			if want := combine(c.egress, c.ingress); r.Verdict != want {
				t.Errorf("verdict %v, want %v", r.Verdict, want)
			}
			var rules []RuleRef
			var reasons []string
			for _, d := range []DirectionResult{r.Egress, r.Ingress} {
				rules = append(rules, d.Rules...)
				reasons = append(reasons, d.Reason)
			}
			if c.rule != "" {
				found := false
				for _, rr := range rules {
					if rr.String() == c.rule {
						found = true
					}
				}
				if !found {
					t.Errorf("rules %v do not include %q", rules, c.rule)
				}
			}
			if c.reason != "" && !strings.Contains(strings.Join(reasons, " | "), c.reason) {
				t.Errorf("reasons %q do not mention %q", reasons, c.reason)
			}
		})
	}
}

func TestEvaluateNamespaceScoping(t *testing.T) {
	ps := []*Policy{
		cnp(t, "payments", "allow-web-to-api", `{
			"endpointSelector": {"matchLabels": {"app": "api"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}],
			             "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}]}`),
		cnp(t, "payments", "from-shop", `{
			"endpointSelector": {"matchLabels": {"app": "api"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"io.kubernetes.pod.namespace": "shop", "app": "web"}}]}]}`),
		cnp(t, "payments", "from-team-blue", `{
			"endpointSelector": {"matchLabels": {"app": "api"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": "blue"}}]}]}`),
		cnp(t, "payments", "seed-12-mistake", `{
			"endpointSelector": {"matchLabels": {"app": "api"}},
			"ingressDeny": [{"fromEndpoints": [{"matchLabels": {"kubernetes.io/metadata.name": "jobs"}}]}]}`),
	}
	api := pod("payments", "app=api")
	blue := pod("ci", "app=runner", "io.cilium.k8s.namespace.labels.team=blue")
	runCases(t, ps, []evalCase{
		{name: "peer in the policy's namespace", flow: tcp(pod("payments", "app=web"), api, 8080),
			egress: NotSelected, ingress: Allowed, rule: "payments/allow-web-to-api ingress[0]"},
		{name: "same labels in another namespace are not the peer", flow: tcp(pod("other", "app=web"), api, 8080),
			egress: NotSelected, ingress: DefaultDenied, reason: "default deny"},
		{name: "explicit namespace label crosses namespaces", flow: tcp(pod("shop", "app=web"), api, 9999),
			egress: NotSelected, ingress: Allowed, rule: "payments/from-shop ingress[0]"},
		{name: "namespace-object labels are not scoped to the policy namespace", flow: tcp(blue, api, 1),
			egress: NotSelected, ingress: Allowed, rule: "payments/from-team-blue ingress[0]"},
		{name: "kubernetes.io/metadata.name is a pod label: the deny matches nothing",
			flow:   tcp(pod("jobs", "app=cron", "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=jobs"), api, 8080),
			egress: NotSelected, ingress: DefaultDenied},
		{name: "a CNP never selects pods of other namespaces", flow: tcp(api, pod("shop", "app=api"), 8080),
			egress: NotSelected, ingress: NotSelected, reason: "no policy selects the destination"},
	})
}

func TestEvaluateDefaultDeny(t *testing.T) {
	ps := []*Policy{
		cnp(t, "shop", "deny-all-ingress", `{"endpointSelector": {"matchLabels": {"app": "locked"}}, "ingress": [{}]}`),
		cnp(t, "shop", "same-namespace", `{"endpointSelector": {"matchLabels": {"app": "ns"}},
			"ingress": [{"fromEndpoints": [{}]}], "egress": [{"toEndpoints": [{}]}]}`),
		cnp(t, "shop", "staged", `{"endpointSelector": {"matchLabels": {"app": "staged"}},
			"enableDefaultDeny": {"ingress": false, "egress": false},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}],
			"egressDeny": [{"toEntities": ["world"]}]}`),
		cnp(t, "shop", "staged-and-enforced", `{"endpointSelector": {"matchLabels": {"app": "mixed"}},
			"enableDefaultDeny": {"ingress": false},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}]}`),
		cnp(t, "shop", "enforced", `{"endpointSelector": {"matchLabels": {"app": "mixed"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"app": "admin"}}]}]}`),
		cnp(t, "shop", "egress-only", `{"endpointSelector": {"matchLabels": {"app": "eg"}},
			"egress": [{"toEndpoints": [{"matchLabels": {"app": "db"}}]}]}`),
		cnp(t, "shop", "empty-list", `{"endpointSelector": {"matchLabels": {"app": "emptylist"}},
			"ingress": [{"fromEndpoints": [], "toPorts": [{"ports": [{"port": "80"}]}]}]}`),
	}
	web := pod("shop", "app=web")
	runCases(t, ps, []evalCase{
		{name: "ingress [{}] denies everything", flow: tcp(web, pod("shop", "app=locked"), 80),
			egress: NotSelected, ingress: DefaultDenied},
		{name: "fromEndpoints [{}] allows the namespace", flow: tcp(pod("shop", "app=x"), pod("shop", "app=ns"), 80),
			egress: NotSelected, ingress: Allowed},
		{name: "fromEndpoints [{}] is not other namespaces", flow: tcp(pod("other", "app=x"), pod("shop", "app=ns"), 80),
			egress: NotSelected, ingress: DefaultDenied},
		{name: "egress [{toEndpoints [{}]}] blocks DNS to kube-system",
			flow:   udp(pod("shop", "app=ns"), pod("kube-system", "k8s-app=kube-dns"), 53),
			egress: DefaultDenied, ingress: NotSelected},
		{name: "enableDefaultDeny false: unlisted peers still allowed", flow: tcp(pod("shop", "app=other"), pod("shop", "app=staged"), 80),
			egress: NotSelected, ingress: Allowed, reason: "enableDefaultDeny false"},
		{name: "enableDefaultDeny false: deny rules still apply", flow: tcp(pod("shop", "app=staged"), world("1.1.1.1"), 443),
			egress: Denied, ingress: NotSelected, rule: "shop/staged egressDeny[0]"},
		{name: "as enforced: the staged policy denies unlisted peers", flow: tcp(pod("shop", "app=other"), pod("shop", "app=staged"), 80),
			egress: NotSelected, ingress: DefaultDenied, enforced: true},
		{name: "as enforced: listed peers stay allowed", flow: tcp(web, pod("shop", "app=staged"), 80),
			egress: NotSelected, ingress: Allowed, enforced: true, rule: "shop/staged ingress[0]"},
		{name: "one default-deny policy enforces the direction; the other's allows still count",
			flow: tcp(web, pod("shop", "app=mixed"), 80), egress: NotSelected, ingress: Allowed, rule: "shop/staged-and-enforced ingress[0]"},
		{name: "one default-deny policy enforces the direction", flow: tcp(pod("shop", "app=x"), pod("shop", "app=mixed"), 80),
			egress: NotSelected, ingress: DefaultDenied, reason: "default deny enabled by shop/enforced"},
		{name: "egress rules do not touch ingress", flow: tcp(web, pod("shop", "app=eg"), 80),
			egress: NotSelected, ingress: NotSelected},
		{name: "egress default deny", flow: tcp(pod("shop", "app=eg"), web, 80),
			egress: DefaultDenied, ingress: NotSelected},
		{name: "an explicitly empty fromEndpoints selects nothing, even with ports", flow: tcp(web, pod("shop", "app=emptylist"), 80),
			egress: NotSelected, ingress: DefaultDenied},
		{name: "replies pass by connection tracking", flow: &flow.Flow{Source: web, Destination: pod("shop", "app=locked"),
			Protocol: flow.ProtoTCP, DstPort: 40000, IsReply: true},
			egress: Allowed, ingress: Allowed, reason: "connection tracking"},
	})
}

func TestEvaluateDenyAndEntities(t *testing.T) {
	ps := []*Policy{
		cnp(t, "app", "web", `{"endpointSelector": {"matchLabels": {"app": "web"}},
			"egress": [{"toEntities": ["all"]}],
			"egressDeny": [{"toEntities": ["world"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]}`),
		cnp(t, "app", "in-cluster", `{"endpointSelector": {"matchLabels": {"app": "payments"}},
			"egress": [{"toEntities": ["cluster"]}],
			"ingress": [{"fromEntities": ["kube-apiserver", "remote-node"]}]}`),
		cnp(t, "app", "nodes-only", `{"endpointSelector": {"matchLabels": {"app": "nodes-only"}},
			"ingress": [{"fromEntities": ["remote-node"]}]}`),
		cnp(t, "app", "b", `{"endpointSelector": {"matchLabels": {"app": "b"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"app": "a"}}]}],
			"ingressDeny": [{"fromEndpoints": [{"matchLabels": {"app": "a", "access": "blocked"}}]}]}`),
	}
	web, pay := pod("app", "app=web"), pod("app", "app=payments")
	runCases(t, ps, []evalCase{
		{name: "deny wins over allow-all", flow: tcp(web, world("8.8.8.8"), 80), egress: Denied, ingress: NotSelected, rule: "app/web egressDeny[0]"},
		{name: "deny is port-specific", flow: tcp(web, world("8.8.8.8"), 443), egress: Allowed, ingress: NotSelected, rule: "app/web egress[0]"},
		{name: "world entity covers CIDR identities", flow: tcp(web, flow.Endpoint{Identity: flow.IdentityMinLocal + 5, IP: "9.9.9.9",
			Labels: flow.NewLabels("cidr:9.9.9.9/32", "reserved:world")}, 80), egress: Denied, ingress: NotSelected},
		{name: "cluster covers pods of every namespace", flow: tcp(pay, pod("other", "app=x"), 5432), egress: Allowed, ingress: NotSelected},
		{name: "cluster covers the host", flow: tcp(pay, reserved(flow.IdentityHost), 10250), egress: Allowed, ingress: NotSelected},
		{name: "cluster covers remote nodes", flow: tcp(pay, reserved(flow.IdentityRemoteNode), 10250), egress: Allowed, ingress: NotSelected},
		{name: "cluster covers kube-apiserver", flow: tcp(pay, reserved(flow.IdentityKubeAPIServer), 443), egress: Allowed, ingress: NotSelected},
		{name: "cluster is not world", flow: tcp(pay, world("1.2.3.4"), 443), egress: DefaultDenied, ingress: NotSelected},
		{name: "kube-apiserver entity", flow: tcp(reserved(flow.IdentityKubeAPIServer), pay, 8443), egress: NotSelected, ingress: Allowed},
		{name: "identity 7 is a remote node too", flow: tcp(flow.Endpoint{Identity: flow.IdentityKubeAPIServer}, pod("app", "app=nodes-only"), 10250),
			egress: NotSelected, ingress: Allowed, rule: "app/nodes-only ingress[0]"},
		{name: "world source is not a subject", flow: tcp(world("1.2.3.4"), pay, 8443), egress: NotSelected, ingress: DefaultDenied, reason: "not a Cilium endpoint"},
		{name: "the local host may always reach pods (allow-localhost)", flow: tcp(reserved(flow.IdentityHost), pay, 8080),
			egress: NotSelected, ingress: Allowed, reason: "allow-localhost"},
		{name: "deny on a more specific selector wins", flow: tcp(pod("app", "app=a", "access=blocked"), pod("app", "app=b"), 80),
			egress: NotSelected, ingress: Denied, rule: "app/b ingressDeny[0]"},
		{name: "allow for the less specific selector", flow: tcp(pod("app", "app=a"), pod("app", "app=b"), 80),
			egress: NotSelected, ingress: Allowed, rule: "app/b ingress[0]"},
	})
}

func TestEvaluateClusterwide(t *testing.T) {
	ps := []*Policy{
		ccnp(t, "everything-in-cluster", `{"endpointSelector": {},
			"ingress": [{"fromEndpoints": [{}]}]}`),
		ccnp(t, "hosts", `{"nodeSelector": {"matchLabels": {"kubernetes.io/os": "linux"}},
			"ingress": [{"fromEntities": ["cluster"]}]}`),
	}
	runCases(t, ps, []evalCase{
		{name: "CCNP {} peers are pods of every namespace", flow: tcp(pod("a", "app=x"), pod("b", "app=y"), 80),
			egress: NotSelected, ingress: Allowed},
		{name: "CCNP {} peers are not world", flow: tcp(world("1.2.3.4"), pod("b", "app=y"), 80),
			egress: NotSelected, ingress: DefaultDenied},
		{name: "CCNP {} subject includes the health endpoint", flow: tcp(reserved(flow.IdentityRemoteNode), reserved(flow.IdentityHealth), 4240),
			egress: NotSelected, ingress: DefaultDenied},
		{name: "nodeSelector policies do not select pods", flow: tcp(world("1.2.3.4"), reserved(flow.IdentityHost), 22),
			egress: NotSelected, ingress: NotSelected, reason: "host firewall"},
	})
}

func TestEvaluateMultipleSpecs(t *testing.T) {
	p := &Policy{APIVersion: APIVersion, Kind: KindCNP, Metadata: ObjectMeta{Name: "multi", Namespace: "m"}}
	if err := json.Unmarshal([]byte(`[
		{"endpointSelector": {"matchLabels": {"app": "a"}}, "egress": [{"toEndpoints": [{"matchLabels": {"app": "b"}}]}]},
		{"endpointSelector": {"matchLabels": {"app": "a"}}, "egress": [{"toEndpoints": [{"matchLabels": {"app": "c"}}]}]}]`), &p.Specs); err != nil {
		t.Fatal(err)
	}
	runCases(t, []*Policy{p}, []evalCase{
		{name: "second rule set", flow: tcp(pod("m", "app=a"), pod("m", "app=c"), 1), egress: Allowed, ingress: NotSelected, rule: "m/multi rules[1].egress[0]"},
	})
}

func TestCompileErrors(t *testing.T) {
	for name, spec := range map[string]string{
		"unknown entity":  `{"endpointSelector": {}, "egress": [{"toEntities": ["wrld"]}]}`,
		"bad CIDR":        `{"endpointSelector": {}, "egress": [{"toCIDR": ["10.0.0.0/33"]}]}`,
		"bad except":      `{"endpointSelector": {}, "egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["x"]}]}]}`,
		"bad regex":       `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{"path": "("}]}}]}]}`,
		"bad port":        `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "70000"}]}]}]}`,
		"endPort < port":  `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80", "endPort": 79}]}]}]}`,
		"bad protocol":    `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "ICMP"}]}]}]}`,
		"bad pattern":     `{"endpointSelector": {}, "egress": [{"toFQDNs": [{"matchPattern": "a/b"}]}]}`,
		"bad operator":    `{"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}, "ingress": [{}]}`,
		"no selector":     `{"ingress": [{}]}`,
		"node in a CNP":   `{"nodeSelector": {}, "ingress": [{}]}`,
		"bad ICMP type":   `{"endpointSelector": {}, "ingress": [{"icmps": [{"fields": [{"type": "Ping"}]}]}]}`,
		"bad ICMP family": `{"endpointSelector": {}, "ingress": [{"icmps": [{"fields": [{"type": 8, "family": "IPX"}]}]}]}`,
	} {
		_, err := Compile([]*Policy{cnp(t, "ns", "bad", spec)}, CompileOptions{})
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), "ns/bad") || !strings.Contains(err.Error(), "spec") {
			t.Errorf("%s: error %q does not name the policy and field", name, err)
		}
	}
}

// Evaluate is safe for concurrent use while identities are first seen.
func TestEvaluateConcurrent(t *testing.T) {
	w := newBenchWorld(5, 10, 2, 10, 3000)
	e, err := Compile(w.policies, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Decision, len(w.flows))
	for i := range w.flows {
		want[i] = naiveEvaluate(e, &w.flows[i]).Verdict
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for k := range w.flows {
				i := (k*7 + g*389) % len(w.flows)
				if got := e.Evaluate(&w.flows[i]).Verdict; got != want[i] {
					errs <- fmt.Sprintf("flow %d: %v, want %v", i, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

// A flow allowed both by an L7 rule it carries no data for and by a plain
// L4 rule is simply allowed; the reason names the L4 rule.
func TestEvaluateClusterName(t *testing.T) {
	ps := []*Policy{cnp(t, "a", "in-cluster", `{"endpointSelector": {}, "egress": [{"toEntities": ["cluster"]}]}`)}
	e, err := Compile(ps, CompileOptions{ClusterName: "east"})
	if err != nil {
		t.Fatal(err)
	}
	src := pod("a", "app=x", "io.cilium.k8s.policy.cluster=east")
	for _, c := range []struct {
		cluster string
		want    Decision
	}{{"east", Allowed}, {"west", DefaultDenied}} {
		dst := pod("b", "app=y", "io.cilium.k8s.policy.cluster="+c.cluster)
		if r := e.Evaluate(tcp(src, dst, 80)); r.Egress.Decision != c.want {
			t.Errorf("to a pod of %s: %v, want %v", c.cluster, r.Egress.Decision, c.want)
		}
	}
}
