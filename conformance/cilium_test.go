package conformance

import (
	"testing"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

func peer(t *testing.T, u *Universe, ns string, match map[string]string) flow.Endpoint {
	t.Helper()
	for _, p := range u.Pods() {
		if p.Endpoint.Namespace != ns {
			continue
		}
		ok := true
		for k, v := range match {
			if got, has := p.Endpoint.Labels.Get(k); !has || got != v {
				ok = false
			}
		}
		if ok {
			return p.Endpoint
		}
	}
	t.Fatalf("no pod in %s with %v", ns, match)
	return flow.Endpoint{}
}

// TestCiliumHarness checks the harness itself against verdicts anyone who
// knows Cilium can tell by hand, so that a broken harness cannot pass the
// differential test by agreeing with a broken evaluator.
func TestCiliumHarness(t *testing.T) {
	u := NewUniverse()
	web := peer(t, u, "shop", map[string]string{"app": "web"})
	api := peer(t, u, "shop", map[string]string{"app": "api", "role": "backend"})
	payWeb := peer(t, u, "payments", map[string]string{"app": "web"})
	world, _ := u.PeerByIdentity(flow.IdentityMinLocal + 5) // 203.0.113.7
	host, _ := u.PeerByIdentity(flow.IdentityHost)

	cnp := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.KindCNP,
		Metadata: policy.ObjectMeta{Name: "allow-web", Namespace: "shop"},
		Spec: &policy.Rule{
			EndpointSelector: &policy.EndpointSelector{MatchLabels: map[string]string{"app": "api"}},
			Ingress: []policy.IngressRule{{
				IngressCommonRule: policy.IngressCommonRule{FromEndpoints: []policy.EndpointSelector{{MatchLabels: map[string]string{"app": "web"}}}},
				ToPorts:           []policy.PortRule{{Ports: []policy.PortProtocol{{Port: "8080", Protocol: "TCP"}}}},
			}},
			Egress: []policy.EgressRule{{
				EgressCommonRule: policy.EgressCommonRule{ToEndpoints: []policy.EndpointSelector{{}}},
				ICMPs:            []policy.ICMPRule{{Fields: []policy.ICMPField{{Type: policy.IntOrStr{IsStr: true, Str: "EchoRequest"}}}}},
			}, {
				EgressCommonRule: policy.EgressCommonRule{ToCIDRSet: []policy.CIDRRule{{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.128/25"}}}},
			}},
		}}
	e, err := NewCiliumEngine(u, []*policy.Policy{cnp})
	if err != nil {
		t.Fatal(err)
	}
	world200, _ := u.PeerByIdentity(flow.IdentityMinLocal + 6) // 203.0.113.200
	cases := []struct {
		name     string
		src, dst flow.Endpoint
		port     uint16
		want     Verdict
	}{
		{"web to api 8080", web, api, 8080, Verdict{Egress: true, Ingress: true}},
		{"web to api 80", web, api, 80, Verdict{Egress: true, Ingress: false}},
		{"payments web to shop api: peer scoped to policy namespace", payWeb, api, 8080, Verdict{Egress: true, Ingress: false}},
		{"host to api: localhost always allowed", host.Endpoint, api, 9999, Verdict{Egress: true, Ingress: true}},
		{"api egress to CIDR", api, world.Endpoint, 443, Verdict{Egress: true, Ingress: true}},
		{"api egress to except", api, world200.Endpoint, 443, Verdict{Egress: false, Ingress: true}},
		{"api egress to web: egress default deny", api, web, 80, Verdict{Egress: false, Ingress: true}},
	}
	icmp := []struct {
		name string
		typ  uint8
		want bool
	}{{"api pings web", 8, true}, {"api sends web type 3", 3, false}}
	for _, c := range icmp {
		got, err := e.Lookup(&flow.Flow{Source: api, Destination: web, Protocol: flow.ProtoICMP, ICMPType: c.typ})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Egress != c.want {
			t.Errorf("%s: egress allowed=%v, want %v", c.name, got.Egress, c.want)
		}
	}
	for _, c := range cases {
		got, err := e.Lookup(&flow.Flow{Source: c.src, Destination: c.dst, Protocol: flow.ProtoTCP, DstPort: c.port})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
