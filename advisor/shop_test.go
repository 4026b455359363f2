package advisor_test

import (
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

// TestShopVerified checks the synthetic shop end to end: the evaluator
// checked the target set, nothing observed is denied, and every stage has
// documents.
func TestShopVerified(t *testing.T) {
	edges := synth.Edges(synth.Shop(1))
	p, err := advisor.Suggest(edges, advisor.Options{})
	if err != nil {
		t.Fatalf("Suggest: %v", err)
	}
	if !p.Verification.Checked {
		t.Fatal("verification did not use the evaluator")
	}
	if len(p.Verification.Breakage) != 0 {
		t.Fatalf("breakage: %+v", p.Verification.Breakage)
	}
	if p.Verification.Edges == 0 || p.Summary.CoveredFlows != p.Summary.Flows {
		t.Fatalf("coverage: %+v", p.Summary)
	}
	var shop *advisor.NamespaceProposal
	for i := range p.Namespaces {
		if p.Namespaces[i].Namespace == "shop" {
			shop = &p.Namespaces[i]
		}
	}
	if shop == nil {
		t.Fatal("no proposal for shop")
	}
	stages := map[string]int{}
	for _, sd := range shop.Stages {
		stages[sd.Stage]++
	}
	for _, s := range advisor.Stages {
		if stages[s] == 0 {
			t.Errorf("stage %s has no documents", s)
		}
	}
	// The strict loader reads back what Marshal writes.
	out, err := policy.Marshal(shop.Target)
	if err != nil {
		t.Fatal(err)
	}
	back, err := policy.LoadBytes("target.yaml", out)
	if err != nil {
		t.Fatalf("loading the target set back: %v", err)
	}
	if len(back) != len(shop.Target) {
		t.Fatalf("loaded %d policies, wrote %d", len(back), len(shop.Target))
	}
}
