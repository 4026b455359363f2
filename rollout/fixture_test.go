package rollout

import (
	"fmt"
	"time"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// t0 is "now" for every test: gates read time from the engine's clock.
var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func bp(b bool) *bool { return &b }

func sel(kv ...string) *policy.EndpointSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &policy.EndpointSelector{MatchLabels: m}
}

func ports(p ...string) []policy.PortRule {
	var pp []policy.PortProtocol
	for _, s := range p {
		pp = append(pp, policy.PortProtocol{Port: s, Protocol: "TCP"})
	}
	return []policy.PortRule{{Ports: pp}}
}

func cnp(ns, name string, r policy.Rule) *policy.Policy {
	return &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.KindCNP,
		Metadata: policy.ObjectMeta{Name: name, Namespace: ns}, Spec: &r}
}

// shopTarget is the target set of a small shop: frontend (from the world),
// cart, payments (with an L7 rule, and egress to a SaaS name) and a
// nightly report CronJob, plus a platform DNS allowance.
func shopTarget(ns string) []*policy.Policy {
	dns := policy.Rule{
		EndpointSelector: &policy.EndpointSelector{},
		Egress: []policy.EgressRule{{
			EgressCommonRule: policy.EgressCommonRule{ToEndpoints: []policy.EndpointSelector{*sel("k8s:io.kubernetes.pod.namespace", "kube-system", "k8s:k8s-app", "kube-dns")}},
			ToPorts: []policy.PortRule{{Ports: []policy.PortProtocol{{Port: "53", Protocol: "UDP"}},
				Rules: &policy.L7Rules{DNS: []policy.PortRuleDNS{{MatchPattern: "*"}}}}},
		}},
	}
	from := func(app string) policy.IngressCommonRule {
		return policy.IngressCommonRule{FromEndpoints: []policy.EndpointSelector{*sel("app", app)}}
	}
	to := func(app string) policy.EgressCommonRule {
		return policy.EgressCommonRule{ToEndpoints: []policy.EndpointSelector{*sel("app", app)}}
	}
	payIn := ports("9090")
	payIn[0].Rules = &policy.L7Rules{HTTP: []policy.PortRuleHTTP{{Method: "POST", Path: "/charge"}}}
	return []*policy.Policy{
		cnp(ns, "platform-dns", dns),
		cnp(ns, "frontend", policy.Rule{EndpointSelector: sel("app", "frontend"),
			Ingress: []policy.IngressRule{{IngressCommonRule: policy.IngressCommonRule{FromEntities: []string{"world"}}, ToPorts: ports("8080")}},
			Egress:  []policy.EgressRule{{EgressCommonRule: to("cart"), ToPorts: ports("8080")}}}),
		cnp(ns, "cart", policy.Rule{EndpointSelector: sel("app", "cart"),
			Ingress: []policy.IngressRule{{IngressCommonRule: from("frontend"), ToPorts: ports("8080")}},
			Egress:  []policy.EgressRule{{EgressCommonRule: to("payments"), ToPorts: ports("9090")}}}),
		cnp(ns, "payments", policy.Rule{EndpointSelector: sel("app", "payments"),
			Ingress: []policy.IngressRule{
				{IngressCommonRule: from("cart"), ToPorts: payIn},
				{IngressCommonRule: from("report"), ToPorts: ports("9090")},
			},
			Egress: []policy.EgressRule{{ToFQDNs: []policy.FQDNSelector{{MatchName: "api.example.com"}}, ToPorts: ports("443")}}}),
		cnp(ns, "report", policy.Rule{EndpointSelector: sel("app", "report"),
			Egress: []policy.EgressRule{{EgressCommonRule: to("payments"), ToPorts: ports("9090")}}}),
	}
}

func pod(ns, app string) flow.Endpoint {
	return flow.Endpoint{Identity: 10000 + flow.Identity(len(app)), Namespace: ns, Workload: app,
		Labels: flow.NewLabels("k8s:app="+app, "k8s:"+flow.LabelNamespace+"="+ns)}
}

func edge(src, dst flow.Endpoint, port uint16, proto flow.Protocol, first, last time.Time, n uint64) flow.Edge {
	return flow.Edge{Source: src, Destination: dst, Protocol: proto, Port: port, Flows: n, FirstSeen: first, LastSeen: last}
}

// shopEvidence is ten days of the traffic the target set allows.
func shopEvidence(ns string) []flow.Edge {
	world := flow.Endpoint{Identity: flow.IdentityWorld, IP: "203.0.113.10"}
	saas := flow.Endpoint{Identity: flow.IdentityWorld, IP: "198.51.100.7", Names: []string{"api.example.com"}}
	dns := flow.Endpoint{Identity: 20000, Namespace: "kube-system", Workload: "coredns",
		Labels: flow.NewLabels("k8s:k8s-app=kube-dns", "k8s:"+flow.LabelNamespace+"=kube-system")}
	first, last := t0.Add(-10*24*time.Hour), t0.Add(-time.Hour)
	out := []flow.Edge{
		edge(world, pod(ns, "frontend"), 8080, flow.ProtoTCP, first, last, 5000),
		edge(pod(ns, "frontend"), pod(ns, "cart"), 8080, flow.ProtoTCP, first, last, 3000),
		edge(pod(ns, "cart"), pod(ns, "payments"), 9090, flow.ProtoTCP, first, last, 800),
		edge(pod(ns, "report"), pod(ns, "payments"), 9090, flow.ProtoTCP, first.Add(24*time.Hour), t0.Add(-2*24*time.Hour), 12),
		edge(pod(ns, "payments"), saas, 443, flow.ProtoTCP, first, last, 700),
	}
	for _, app := range []string{"frontend", "cart", "payments", "report"} {
		out = append(out, edge(pod(ns, app), dns, 53, flow.ProtoUDP, first, last, 100))
	}
	return out
}

// strayEdge is traffic the target set does not allow: cart talking to an
// external redis nobody proposed a rule for, seen within the last day.
func strayEdge() flow.Edge {
	redis := flow.Endpoint{Identity: flow.IdentityWorld, IP: "203.0.113.99"}
	return edge(pod("shop-gates", "cart"), redis, 6379, flow.ProtoTCP, t0.Add(-9*24*time.Hour), t0.Add(-30*time.Minute), 42)
}

// bigPlan is a namespace of n workloads, each talking to the next.
func bigPlan(ns string, n int) ([]*policy.Policy, []flow.Edge) {
	var ps []*policy.Policy
	var es []flow.Edge
	first, last := t0.Add(-8*24*time.Hour), t0.Add(-time.Hour)
	for i := range n {
		app, next := fmt.Sprintf("w%03d", i), fmt.Sprintf("w%03d", (i+1)%n)
		ps = append(ps, cnp(ns, app, policy.Rule{EndpointSelector: sel("app", app),
			Ingress: []policy.IngressRule{{IngressCommonRule: policy.IngressCommonRule{FromEndpoints: []policy.EndpointSelector{*sel("app", fmt.Sprintf("w%03d", (i+n-1)%n))}}, ToPorts: ports("8080")}},
			Egress:  []policy.EgressRule{{EgressCommonRule: policy.EgressCommonRule{ToEndpoints: []policy.EndpointSelector{*sel("app", next)}}, ToPorts: ports("8080")}},
		}))
		es = append(es, edge(pod(ns, app), pod(ns, next), 8080, flow.ProtoTCP, first, last, 10))
	}
	return ps, es
}
