package advisor_test

import (
	"errors"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// An evaluator denying every egress must surface as breakage on the egress
// side only, accounted in the egress flips' readiness.
func TestBreakageReported(t *testing.T) {
	edges := benchEdges(2000, 2)
	denyEgress := func([]*policy.Policy) (advisor.EvaluateFunc, error) {
		return func(*flow.Flow) advisor.Decision {
			return advisor.Decision{IngressAllowed: true, EgressReason: "test: egress denied"}
		}, nil
	}
	p, err := advisor.Suggest(edges, advisor.Options{Verify: denyEgress})
	if !errors.Is(err, advisor.ErrBreakage) {
		t.Fatalf("err = %v, want ErrBreakage", err)
	}
	if len(p.Verification.Breakage) == 0 {
		t.Fatal("no breakage reported")
	}
	for _, br := range p.Verification.Breakage {
		if br.Direction != advisor.DirEgress || br.Reason != "test: egress denied" || br.Flows == 0 {
			t.Fatalf("unexpected breakage %+v", br)
		}
	}
	flips := 0
	for _, np := range p.Namespaces {
		for _, sd := range np.Stages {
			r := sd.Readiness
			if r == nil {
				continue
			}
			var notCovered uint64
			for _, br := range r.NotCovered {
				notCovered += br.Flows
			}
			if r.CoveredFlows+notCovered != r.Flows || r.CoveredEdges+len(r.NotCovered) != r.Edges {
				t.Fatalf("%s %s %s: covered %d+%d flows of %d, %d+%d edges of %d", np.Namespace, sd.Workload, sd.Direction,
					r.CoveredFlows, notCovered, r.Flows, r.CoveredEdges, len(r.NotCovered), r.Edges)
			}
			if sd.Direction == advisor.DirIngress && len(r.NotCovered) > 0 {
				t.Fatalf("%s %s: ingress reported not covered", np.Namespace, sd.Workload)
			}
			if len(r.NotCovered) > 0 {
				flips++
			}
		}
	}
	if flips == 0 {
		t.Fatal("no egress flip reports what it does not cover")
	}
}
