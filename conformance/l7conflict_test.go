package conformance

import (
	"strings"
	"testing"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// TestL7ConflictLintMatchesCilium checks lint's l7-parser-conflict rule
// against Cilium's own policy computation: for each pair of rules, lint
// flags a clash exactly when Cilium fails to compute the policy of the
// endpoint both select.
func TestL7ConflictLintMatchesCilium(t *testing.T) {
	u := NewUniverse()
	web := peer(t, u, "shop", map[string]string{"app": "web"})
	api := peer(t, u, "shop", map[string]string{"app": "api", "role": "backend"})
	doc := func(name, subject, peer, port, proto, rules string) string {
		return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: " + name + ", namespace: shop}\nspec:\n" +
			"  endpointSelector: " + subject + "\n  egress:\n  - toEndpoints: [" + peer + "]\n    toPorts:\n" +
			"    - ports: [{port: \"" + port + "\", protocol: " + proto + "}]\n      rules: {" + rules + "}\n"
	}
	const (
		dns  = `dns: [{matchPattern: "*"}]`
		http = `http: [{method: GET}]`
		all  = "{}"
		wapp = "{matchLabels: {app: web}}"
		aapp = "{matchLabels: {app: api}}"
		bapp = "{matchLabels: {role: backend}}"
	)
	cases := []struct {
		name  string
		docs  []string
		clash bool
	}{
		{"dns and http, one peer and port", []string{doc("a", all, aapp, "53", "ANY", dns), doc("b", wapp, aapp, "53", "TCP", http)}, true},
		{"dns and http, one peer, TCP and TCP", []string{doc("a", all, aapp, "53", "TCP", dns), doc("b", all, aapp, "53", "TCP", http)}, true},
		{"dns on UDP, http on TCP", []string{doc("a", all, aapp, "53", "UDP", dns), doc("b", all, aapp, "53", "TCP", http)}, false},
		{"dns and http, other ports", []string{doc("a", all, aapp, "53", "ANY", dns), doc("b", all, aapp, "8080", "TCP", http)}, false},
		{"dns and http, peers written apart", []string{doc("a", all, aapp, "53", "ANY", dns), doc("b", all, bapp, "53", "TCP", http)}, false},
		{"dns twice", []string{doc("a", all, aapp, "53", "ANY", dns), doc("b", wapp, aapp, "53", "ANY", dns)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps, err := policy.LoadBytes("l7.yaml", []byte(strings.Join(c.docs, "---\n")))
			if err != nil {
				t.Fatal(err)
			}
			flagged := false
			for _, f := range policy.Lint(ps) {
				flagged = flagged || f.Rule == policy.RuleL7Conflict
			}
			e, err := NewCiliumEngine(u, ps)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Lookup(&flow.Flow{Source: web, Destination: api, Protocol: flow.ProtoTCP, DstPort: 53})
			refused := err != nil && strings.Contains(err.Error(), "conflicting L7 parsers")
			if err != nil && !refused {
				t.Fatalf("cilium: %v", err)
			}
			if refused != c.clash || flagged != c.clash {
				t.Errorf("want clash=%v: Cilium refused=%v (%v), lint flagged=%v", c.clash, refused, err, flagged)
			}
		})
	}
}
