package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

// seedPolicies loads one of the seed documents' examples (fragments get
// the "default" namespace, as kubectl would give them).
func seedPolicies(t *testing.T, name string) []*Policy {
	t.Helper()
	path := filepath.Join(testenv.SharedDir(t), "seeds", "examples", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := LoadFragment(name, data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ps
}

// The seeds' semantics, as examples/README.md states them, are the
// contract; each case below is one of its claims.
func TestEvaluateSeedExamples(t *testing.T) {
	dns := pod("kube-system", "k8s-app=kube-dns")
	for _, s := range []struct {
		file  string
		cases []evalCase
	}{
		{"01-payments-api-deployment-and-cnp.yaml", []evalCase{
			{name: "web to api in payments", flow: tcp(pod("payments", "app=web"), pod("payments", "app=api", "role=backend"), 8080), egress: NotSelected, ingress: Allowed},
			{name: "app=web of another namespace", flow: tcp(pod("shop", "app=web"), pod("payments", "app=api", "role=backend"), 8080), egress: NotSelected, ingress: DefaultDenied},
		}},
		{"02-dns-observe-no-deny.yaml", []evalCase{
			{name: "observe-only policy denies nothing", flow: tcp(pod("payments", "app=api"), world("1.2.3.4"), 443), egress: Allowed, ingress: NotSelected},
		}},
		{"03-payments-api-policy.yaml", []evalCase{
			{name: "toEntities cluster opens every in-cluster port", flow: tcp(pod("payments", "app=api"), pod("ledger", "app=db"), 5432), egress: Allowed, ingress: NotSelected},
			{name: "FQDN on 443", flow: tcp(pod("payments", "app=api"), world("93.184.216.34", "api.example.com"), 443), egress: Allowed, ingress: NotSelected},
			{name: "CIDR except", flow: tcp(pod("payments", "app=api"), world("203.0.113.129"), 443), egress: DefaultDenied, ingress: NotSelected},
		}},
		{"04-allow-within-namespace.yaml", []evalCase{
			{name: "not a safe start: DNS to kube-system is dropped", flow: udp(pod("shop", "app=cart"), dns, 53), egress: DefaultDenied, ingress: NotSelected},
			{name: "not a safe start: ingress from other namespaces is dropped", flow: tcp(pod("ingress-nginx", "app=ctrl"), pod("shop", "app=cart"), 80), egress: NotSelected, ingress: DefaultDenied},
			{name: "same namespace works", flow: tcp(pod("shop", "app=web"), pod("shop", "app=cart"), 80), egress: Allowed, ingress: Allowed},
		}},
		{"07-cross-namespace-requires.yaml", []evalCase{
			{name: "role=batch in jobs is not selected", flow: tcp(pod("jobs", "role=batch"), pod("default", "app=x"), 80), egress: NotSelected, ingress: DefaultDenied},
			{name: "the requirement matches no pod, so nothing gets in", flow: tcp(pod("default", "role=batch"), pod("default", "app=x"), 80), egress: NotSelected, ingress: DefaultDenied},
		}},
		{"12-coreapi-deny-from-jobs.yaml", []evalCase{
			{name: "the deny matches nothing; the deny-only policy still enables default deny",
				flow: tcp(pod("jobs", "app=cron"), pod("tenant-jobs", "app=coreapi"), 80), egress: NotSelected, ingress: DefaultDenied},
		}},
		{"13-crawler-deny-partner-cidr.yaml", []evalCase{
			{name: "partner CIDR denied", flow: tcp(pod("tenant-jobs", "app=crawler"), world("203.0.113.9"), 443), egress: Denied, ingress: NotSelected},
			{name: "everything else dropped by default deny, DNS included", flow: udp(pod("tenant-jobs", "app=crawler"), dns, 53), egress: DefaultDenied, ingress: NotSelected},
		}},
		{"14-app-deny-world-http.yaml", []evalCase{
			{name: "http to world denied", flow: tcp(pod("tenant-jobs", "app=web"), world("1.2.3.4"), 80), egress: Denied, ingress: NotSelected},
			{name: "https to world dropped by default deny", flow: tcp(pod("tenant-jobs", "app=web"), world("1.2.3.4"), 443), egress: DefaultDenied, ingress: NotSelected},
		}},
		{"15-node-access-controls.yaml", []evalCase{
			{name: "host policies never select pods", flow: tcp(world("1.2.3.4"), pod("default", "app=web"), 22), egress: NotSelected, ingress: NotSelected},
		}},
		{"20-allow-frontend-to-b.yaml", []evalCase{
			{name: "backwards: app-a to app-b is not what it selects", flow: tcp(pod("default", "app=app-a", "access=frontend"), pod("default", "app=app-b"), 80), egress: NotSelected, ingress: NotSelected},
			{name: "it allows app-b into app-a", flow: tcp(pod("default", "app=app-b"), pod("default", "app=app-a", "access=frontend"), 80), egress: NotSelected, ingress: Allowed},
		}},
	} {
		t.Run(s.file, func(t *testing.T) {
			runCases(t, seedPolicies(t, s.file), s.cases)
		})
	}
}

func TestEvaluateReservedSubjects(t *testing.T) {
	ps := []*Policy{ccnp(t, "init", `{"endpointSelector": {"matchLabels": {"reserved:init": ""}},
		"egress": [{"toEntities": ["cluster"], "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]}`)}
	initEP := reserved(flow.IdentityInit)
	runCases(t, ps, []evalCase{
		{name: "init endpoints are always in default deny", flow: tcp(initEP, world("1.2.3.4"), 443), egress: DefaultDenied, ingress: NotSelected},
		{name: "a CCNP can allow init endpoints", flow: udp(initEP, pod("kube-system", "k8s-app=kube-dns"), 53), egress: Allowed, ingress: NotSelected},
		{name: "init endpoints deny ingress by default", flow: tcp(pod("a", "app=x"), initEP, 80), egress: NotSelected, ingress: DefaultDenied},
		{name: "no ingress rule selects it, so not even the host gets in", flow: tcp(reserved(flow.IdentityHost), initEP, 80), egress: NotSelected, ingress: DefaultDenied},
	})
}
