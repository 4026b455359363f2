package advisor_test

import (
	"fmt"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

// benchSizes keep 40 workloads per namespace, the 1M case being the
// issue's 20,000 identities in 500 namespaces.
var benchSizes = []struct {
	edges, namespaces int
}{
	{10_000, 5},
	{100_000, 50},
	{300_000, 150},
	{1_000_000, 500},
}

func benchEdges(edges, namespaces int) []flow.Edge {
	return synth.Topology(42, synth.Config{Namespaces: namespaces, Workloads: 40, Edges: edges,
		CrossNamespace: 0.1, External: 0.1, Platform: 0.1})
}

// BenchmarkSuggest measures a whole suggestion, verification with the
// evaluator included.
func BenchmarkSuggest(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("edges=%d", sz.edges), func(b *testing.B) {
			edges := benchEdges(sz.edges, sz.namespaces)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for b.Loop() {
				p, err := advisor.Suggest(edges, advisor.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if p.Summary.Edges == 0 {
					b.Fatal("nothing verified")
				}
			}
			// The machine is shared: CPU time is the steadier figure.
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkSuggestNoVerify is the baseline: the same without evaluating
// the target set (the advisor's own model still checks it).
func BenchmarkSuggestNoVerify(b *testing.B) {
	noEval := func(ps []*policy.Policy) (advisor.EvaluateFunc, error) { return nil, nil }
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("edges=%d", sz.edges), func(b *testing.B) {
			edges := benchEdges(sz.edges, sz.namespaces)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for b.Loop() {
				if _, err := advisor.Suggest(edges, advisor.Options{Verify: noEval}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}
