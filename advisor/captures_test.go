package advisor_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
	"github.com/posture-dev/posture/policy"
)

// TestRealCaptures suggests from the real Hubble captures, each alone and
// all together, with and without kube-system, and checks with the
// evaluator that nothing observed is denied.
func TestRealCaptures(t *testing.T) {
	files := testenv.HubbleCaptures(t)
	inputs := map[string][]string{"all": files}
	for _, f := range files {
		inputs[filepath.Base(f)] = []string{f}
	}
	for name, fs := range inputs {
		for _, withSystem := range []bool{false, true} {
			var edges = loadAll(t, fs)
			opts := advisor.Options{L7: true}
			if withSystem {
				opts.ExcludeNamespaces = []string{}
			}
			p, err := advisor.Suggest(edges, opts)
			if err != nil {
				t.Fatalf("%s (kube-system %v): %v", name, withSystem, err)
			}
			if !p.Verification.Checked || len(p.Verification.Breakage) != 0 || p.Summary.CoveredFlows != p.Summary.Flows {
				t.Fatalf("%s: verification %+v summary %+v", name, p.Verification, p.Summary)
			}
			if withSystem && len(p.Namespaces) == 0 {
				t.Fatalf("%s: no namespace proposed", name)
			}
			// Independently of Suggest's own check: every edge's flows pass.
			eng, err := policy.Compile(p.Policies(advisor.StageTarget), policy.CompileOptions{AsEnforced: true})
			if err != nil {
				t.Fatal(err)
			}
			denied := 0
			for i := range edges {
				for _, f := range edges[i].Representatives() {
					if r := eng.Evaluate(&f); !r.Verdict.Allows() {
						denied++
						t.Errorf("%s: denied %s → %s %s/%d: %s %s", name, f.Source.String(), f.Destination.String(), f.Protocol, f.DstPort, r.Egress.Reason, r.Ingress.Reason)
					}
				}
			}
			// Everything written must load back through the strict loader.
			out, err := policy.Marshal(p.Policies(advisor.StageTarget))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := policy.LoadBytes(name+".yaml", out); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			t.Logf("%s (kube-system %v): %d edges, %d namespaces, %d policies, %d denied, least privilege %d/%d",
				name, withSystem, len(edges), len(p.Namespaces), p.Summary.Policies, denied, p.Summary.ObservedPairs, p.Summary.AllowedPairs)
		}
	}
}

func loadAll(t *testing.T, files []string) []flow.Edge {
	t.Helper()
	var out []flow.Edge
	for _, f := range files {
		es, _, err := evidence.LoadEdges(context.Background(), f, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	return out
}
