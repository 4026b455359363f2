package policy

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/posture-dev/posture/flow"
)

// benchWorld is a generated cluster: 100 namespaces of 100 identities
// each (20 apps x 5 versions) and 10 policies per namespace of the kinds
// the advisor writes: same-namespace and cross-namespace allows with
// ports, DNS with a dns rule, FQDN, CIDR with except, entities, denies.
type benchWorld struct {
	policies   []*Policy
	identities []flow.Endpoint
	flows      []flow.Flow
}

func newBenchWorld(nsCount, appsPerNS, versions, policiesPerNS, flows int) *benchWorld {
	w := &benchWorld{}
	rng := rand.New(rand.NewPCG(1, 2))
	ns := func(i int) string { return fmt.Sprintf("ns-%03d", i) }
	id := flow.Identity(1000)
	for n := range nsCount {
		for a := range appsPerNS {
			for v := range versions {
				pi := flow.PodIdentity{
					Namespace:       ns(n),
					ServiceAccount:  fmt.Sprintf("sa-%d", a),
					PodLabels:       map[string]string{"app": fmt.Sprintf("app-%d", a), "version": fmt.Sprintf("v%d", v), "tier": []string{"web", "api", "db"}[a%3]},
					NamespaceLabels: map[string]string{"team": fmt.Sprintf("team-%d", n%7), "kubernetes.io/metadata.name": ns(n)},
					Cluster:         "default",
				}
				w.identities = append(w.identities, flow.Endpoint{Identity: id, Namespace: ns(n), Labels: pi.IdentityLabels()})
				id++
			}
		}
	}
	for n := range nsCount {
		for k := range policiesPerNS {
			app := fmt.Sprintf("app-%d", k%appsPerNS)
			peer := fmt.Sprintf("app-%d", (k+1)%appsPerNS)
			other := ns((n + 1 + k) % nsCount)
			spec := &Rule{
				EndpointSelector: &EndpointSelector{MatchLabels: map[string]string{"app": app}},
				Ingress: []IngressRule{
					{IngressCommonRule: IngressCommonRule{FromEndpoints: []EndpointSelector{{MatchLabels: map[string]string{"app": peer}}}},
						ToPorts: []PortRule{{Ports: []PortProtocol{{Port: "8080", Protocol: "TCP"}}}}},
					{IngressCommonRule: IngressCommonRule{FromEndpoints: []EndpointSelector{{MatchLabels: map[string]string{
						"io.kubernetes.pod.namespace": other, "tier": "web"}}}},
						ToPorts: []PortRule{{Ports: []PortProtocol{{Port: "9000", EndPort: 9100, Protocol: "TCP"}},
							Rules: &L7Rules{HTTP: []PortRuleHTTP{{Method: "GET", Path: "/api/.*"}}}}}},
					{IngressCommonRule: IngressCommonRule{FromEntities: []string{"host", "remote-node"}}},
				},
				Egress: []EgressRule{
					{EgressCommonRule: EgressCommonRule{ToEndpoints: []EndpointSelector{{MatchLabels: map[string]string{"app": peer}}}},
						ToPorts: []PortRule{{Ports: []PortProtocol{{Port: "8080", Protocol: "TCP"}}}}},
					{EgressCommonRule: EgressCommonRule{ToEndpoints: []EndpointSelector{{MatchLabels: map[string]string{
						"io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns"}}}},
						ToPorts: []PortRule{{Ports: []PortProtocol{{Port: "53", Protocol: "ANY"}},
							Rules: &L7Rules{DNS: []PortRuleDNS{{MatchPattern: "*"}}}}}},
					{ToFQDNs: []FQDNSelector{{MatchName: fmt.Sprintf("api-%d.example.com", k)}, {MatchPattern: "*.storage.example.net"}},
						ToPorts: []PortRule{{Ports: []PortProtocol{{Port: "443", Protocol: "TCP"}}}}},
					{EgressCommonRule: EgressCommonRule{ToCIDRSet: []CIDRRule{{CIDR: fmt.Sprintf("10.%d.0.0/16", k), Except: []string{fmt.Sprintf("10.%d.128.0/17", k)}}}}},
					{EgressCommonRule: EgressCommonRule{ToEntities: []string{"kube-apiserver"}}},
				},
			}
			if k%3 == 0 {
				spec.EgressDeny = []EgressDenyRule{{EgressCommonRule: EgressCommonRule{ToCIDR: []string{"169.254.169.254/32"}}}}
			}
			w.policies = append(w.policies, &Policy{APIVersion: APIVersion, Kind: KindCNP,
				Metadata: ObjectMeta{Name: fmt.Sprintf("p-%d", k), Namespace: ns(n)}, Spec: spec})
		}
	}
	worldEP := func() flow.Endpoint {
		ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(12), rng.IntN(256), 1+rng.IntN(250))
		return flow.Endpoint{Identity: flow.IdentityWorld, IP: ip, Labels: flow.ReservedLabels(flow.IdentityWorld),
			Names: []string{fmt.Sprintf("api-%d.example.com", rng.IntN(12))}}
	}
	for range flows {
		src := w.identities[rng.IntN(len(w.identities))]
		var dst flow.Endpoint
		switch rng.IntN(10) {
		case 0:
			dst = worldEP()
		case 1:
			dst = flow.Endpoint{Identity: flow.IdentityKubeAPIServer, Labels: flow.ReservedLabels(flow.IdentityKubeAPIServer)}
		default:
			// Mostly same-namespace traffic, as in real clusters.
			base := rng.IntN(len(w.identities)/(appsPerNS*versions)) * appsPerNS * versions
			if rng.IntN(4) > 0 {
				base = (int(src.Identity) - 1000) / (appsPerNS * versions) * appsPerNS * versions
			}
			dst = w.identities[base+rng.IntN(appsPerNS*versions)]
		}
		f := flow.Flow{Source: src, Destination: dst, Protocol: flow.ProtoTCP,
			DstPort: []uint16{8080, 9050, 443, 5432, 53}[rng.IntN(5)]}
		w.flows = append(w.flows, f)
	}
	return w
}

var benchSink Result

// cpuNanos is the process's user+system CPU time. The benchmark machine
// is shared (load far above its 2 cores), so wall-clock ns/op measures the
// queue; CPU time per op is what one core spends on a verdict.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU adds cpu-ns/op and, for verdict benchmarks, verdicts per
// CPU-second.
func reportCPU(b *testing.B, start int64, verdicts bool) {
	cpu := float64(cpuNanos()-start) / float64(b.N)
	b.ReportMetric(cpu, "cpu-ns/op")
	if verdicts && cpu > 0 {
		b.ReportMetric(1e9/cpu, "verdicts/cpu-s")
	}
}

// warm resolves every identity as a subject and as a peer, which is what
// compiling "over" an identity set means for the datapath maps.
func warm(e *Engine, ids []flow.Endpoint) {
	for i := range ids {
		e.subjectPolicy(e.identityOf(&ids[i]))
	}
}

// BenchmarkCompile: 1,000 policies, then 10,000 identities resolved.
func BenchmarkCompile(b *testing.B) {
	w := newBenchWorld(100, 20, 5, 10, 0)
	b.ReportAllocs()
	start := cpuNanos()
	for b.Loop() {
		e, err := Compile(w.policies, CompileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		warm(e, w.identities)
	}
	reportCPU(b, start, false)
	b.ReportMetric(float64(len(w.policies)), "policies")
	b.ReportMetric(float64(len(w.identities)), "identities")
}

// BenchmarkEvaluate: warm caches, one verdict per op.
func BenchmarkEvaluate(b *testing.B) {
	w := newBenchWorld(100, 20, 5, 10, 4096)
	e, err := Compile(w.policies, CompileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	warm(e, w.identities)
	for i := range w.flows {
		e.Evaluate(&w.flows[i])
	}
	b.ReportAllocs()
	i := 0
	start := cpuNanos()
	for b.Loop() {
		benchSink = e.Evaluate(&w.flows[i&4095])
		i++
	}
	reportCPU(b, start, true)
}

// BenchmarkEvaluateNaive is the baseline: the same decisions taken from
// the compiled rules without identity caches, indexes or bitsets.
func BenchmarkEvaluateNaive(b *testing.B) {
	w := newBenchWorld(100, 20, 5, 10, 4096)
	e, err := Compile(w.policies, CompileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	start := cpuNanos()
	for b.Loop() {
		benchSink = naiveEvaluate(e, &w.flows[i&4095])
		i++
	}
	reportCPU(b, start, true)
}

// The benchmark's flows exercise allows, default denies and denies, and
// the engine agrees with the naive evaluator on all of them.
func TestBenchWorldAgrees(t *testing.T) {
	w := newBenchWorld(10, 20, 2, 10, 2000)
	e, err := Compile(w.policies, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[Decision]int{}
	for i := range w.flows {
		r := e.Evaluate(&w.flows[i])
		n := naiveEvaluate(e, &w.flows[i])
		if r.Egress.Decision != n.Egress.Decision || r.Ingress.Decision != n.Ingress.Decision {
			t.Fatalf("flow %d: engine %v/%v, naive %v/%v", i, r.Egress.Decision, r.Ingress.Decision, n.Egress.Decision, n.Ingress.Decision)
		}
		count[r.Verdict]++
	}
	if count[Allowed] < 100 || count[DefaultDenied] < 100 {
		t.Errorf("verdict mix %v is too one-sided to benchmark", count)
	}
}

// BenchmarkEvaluateUncached decides each flow from the subject's compiled
// rules without the verdict cache (identity caches warm): the cost of the
// first flow of each (source, destination, port).
func BenchmarkEvaluateUncached(b *testing.B) {
	w := newBenchWorld(100, 20, 5, 10, 4096)
	e, err := Compile(w.policies, CompileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	warm(e, w.identities)
	for i := range w.flows {
		e.Evaluate(&w.flows[i])
	}
	b.ReportAllocs()
	i := 0
	start := cpuNanos()
	for b.Loop() {
		f := &w.flows[i&4095]
		benchSink = e.evaluate(e.identityOf(&f.Source), e.identityOf(&f.Destination), f)
		i++
	}
	reportCPU(b, start, true)
}
