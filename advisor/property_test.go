package advisor_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

// TestPropertyRandomTopologies checks, on generated clusters, that the
// target set allows every training edge (Suggest verifies with the
// evaluator and fails otherwise) and denies lateral movement: a connection
// between two workloads that never talked, on a port never seen between
// them, must be denied — unless a platform allowance covers it by design
// (DNS to the DNS server).
func TestPropertyRandomTopologies(t *testing.T) {
	for seed := int64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			cfg := synth.Config{Namespaces: 1 + int(seed%4), Workloads: 3 + int(seed%5), Edges: 40 + int(seed)*15,
				CrossNamespace: 0.2, External: 0.15, Platform: 0.2}
			edges := synth.Topology(seed, cfg)
			p, err := advisor.Suggest(edges, advisor.Options{})
			if err != nil {
				t.Fatalf("Suggest: %v", err)
			}
			if !p.Verification.Checked || len(p.Verification.Breakage) > 0 {
				t.Fatalf("verification: %+v", p.Verification)
			}
			eng, err := policy.Compile(p.Policies(advisor.StageTarget), policy.CompileOptions{AsEnforced: true})
			if err != nil {
				t.Fatal(err)
			}
			// Every training edge, flow by flow, is allowed.
			for i := range edges {
				for _, f := range edges[i].Representatives() {
					if r := eng.Evaluate(&f); !r.Verdict.Allows() {
						t.Fatalf("training flow denied: %s → %s %d: %+v", f.Source.String(), f.Destination.String(), f.DstPort, r)
					}
				}
			}
			// Lateral movement probes.
			type key struct {
				src, dst flow.Identity
				port     uint16
			}
			observed := map[key]bool{}
			pods := map[flow.Identity]flow.Endpoint{}
			ports := map[uint16]bool{}
			for _, e := range edges {
				observed[key{e.Source.Identity, e.Destination.Identity, e.Port}] = true
				for _, ep := range []flow.Endpoint{e.Source, e.Destination} {
					if ep.IsPod() && ep.Namespace != "kube-system" {
						pods[ep.Identity] = ep
					}
				}
				if e.Protocol == flow.ProtoTCP && e.Destination.IsPod() {
					ports[e.Port] = true
				}
			}
			var ids []flow.Identity
			for id := range pods {
				ids = append(ids, id)
			}
			var portList []uint16
			for p := range ports {
				portList = append(portList, p)
			}
			if len(ids) < 2 || len(portList) == 0 {
				t.Skip("topology too small")
			}
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			probes := 0
			for i := 0; i < 400; i++ {
				src := pods[ids[r.IntN(len(ids))]]
				dst := pods[ids[r.IntN(len(ids))]]
				port := portList[r.IntN(len(portList))]
				if observed[key{src.Identity, dst.Identity, port}] {
					continue
				}
				f := flow.Flow{Source: src, Destination: dst, Protocol: flow.ProtoTCP, DstPort: port}
				if res := eng.Evaluate(&f); res.Verdict.Allows() {
					t.Errorf("lateral probe allowed: %s → %s:%d (never observed): %+v", src.String(), dst.String(), port, res)
				}
				probes++
			}
			if probes < 100 {
				t.Fatalf("only %d probes", probes)
			}
		})
	}
}
