package policy

import (
	"strings"
	"testing"

	"github.com/posture-dev/posture/flow"
)

// An explicitly empty peer list selects nothing in Cilium, even with
// toPorts; an absent one makes the rule match every peer. Writing a policy
// out and reading it back must not turn the first into the second.
func TestEmptyPeerListSurvivesMarshal(t *testing.T) {
	const doc = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: nothing-on-80, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: []
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
  egress:
  - toEntities: []
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
`
	ps, err := LoadBytes("empty.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fromEndpoints: []", "toEntities: []"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal lost %q:\n%s", want, out)
		}
	}
	again, err := LoadBytes("again.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	api := flow.Endpoint{Identity: 1001, Namespace: "shop", Labels: flow.NewLabels("k8s:app=api", "k8s:io.kubernetes.pod.namespace=shop")}
	web := flow.Endpoint{Identity: 1002, Namespace: "shop", Labels: flow.NewLabels("k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop")}
	in := &flow.Flow{Source: web, Destination: api, Protocol: flow.ProtoTCP, DstPort: 80}
	out443 := &flow.Flow{Source: api, Destination: flow.Endpoint{Identity: flow.IdentityWorld, IP: "192.0.2.1", Labels: flow.NewLabels("reserved:world")}, Protocol: flow.ProtoTCP, DstPort: 443}
	for name, set := range map[string][]*Policy{"loaded": ps, "round-tripped": again} {
		eng, err := Compile(set, CompileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := eng.Evaluate(in); r.Ingress.Decision.Allows() {
			t.Errorf("%s: fromEndpoints: [] admitted web->api:80 (%s)", name, r.Ingress.Reason)
		}
		if r := eng.Evaluate(out443); r.Egress.Decision.Allows() {
			t.Errorf("%s: toEntities: [] admitted api->world:443 (%s)", name, r.Egress.Reason)
		}
	}
}
