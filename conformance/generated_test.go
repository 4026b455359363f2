package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

// evidenceSet is one body of evidence the advisor proposes from.
type evidenceSet struct {
	name  string
	edges []flow.Edge
}

func evidenceSets(t *testing.T) []evidenceSet {
	t.Helper()
	var out []evidenceSet
	for _, seed := range []int64{1, 7} {
		out = append(out, evidenceSet{fmt.Sprintf("synth.Shop(%d)", seed), synth.Edges(synth.Shop(seed))})
	}
	captures, _ := filepath.Glob(filepath.Join(sharedDir(t), "testdata", "hubble", "*.json"))
	if len(captures) == 0 {
		t.Fatal("no Hubble captures in the shared data")
	}
	for _, c := range captures {
		edges, _, err := evidence.LoadEdges(context.Background(), c, nil)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		out = append(out, evidenceSet{filepath.Base(c), edges})
	}
	return out
}

// proposalSets returns the policy sets a rollout applies, in order: each
// stage's documents added to what is already in force, per namespace, and
// the final target set.
func proposalSets(p *advisor.Proposal) (sets map[string][]*policy.Policy, all []*policy.Policy) {
	sets = map[string][]*policy.Policy{}
	var target []*policy.Policy
	for _, ns := range p.Namespaces {
		var applied []*policy.Policy
		for i, st := range ns.Stages {
			applied = apply(applied, st.Policies)
			all = append(all, st.Policies...)
			sets[fmt.Sprintf("%s stage %d (%s %s %s)", ns.Namespace, i, st.Stage, st.Workload, st.Direction)] = applied
		}
		target = append(target, ns.Target...)
		all = append(all, ns.Target...)
	}
	sets["target"] = target
	return sets, all
}

// TestGeneratedPolicies runs what posture generates from synthetic
// evidence and from the real Hubble captures through Cilium: every
// document must pass the CRD schema and Parse, and posture's evaluator
// must agree with Cilium's LookupFlow on the observed flows under every
// stage of the rollout.
func TestGeneratedPolicies(t *testing.T) {
	s := loadSchemas(t)
	docs, compared := 0, 0
	for _, es := range evidenceSets(t) {
		for _, opts := range []advisor.Options{{}, {L7: true}} {
			prop, err := advisor.Suggest(es.edges, opts)
			if err != nil {
				t.Fatalf("%s: advisor: %v", es.name, err)
			}
			sets, all := proposalSets(prop)
			if len(all) == 0 {
				// A capture can hold only excluded namespaces (kube-system).
				t.Logf("%s: the advisor proposed nothing", es.name)
				continue
			}
			for _, p := range all {
				checkAccepted(t, s, es.name, p)
				docs++
			}
			for name, set := range sets {
				noLintErrors(t, es.name+" "+name, set)
			}
			compared += compareOnEvidence(t, es, sets)
		}
	}
	if compared == 0 || docs == 0 {
		t.Fatal("no generated document or flow was checked")
	}
	t.Logf("%d generated documents accepted by Cilium; %d flow directions compared with zero disagreements", docs, compared)
}

// apply is kubectl apply: a document replaces the one of the same kind,
// namespace and name.
func apply(inForce, docs []*policy.Policy) []*policy.Policy {
	out := append([]*policy.Policy{}, inForce...)
	for _, d := range docs {
		replaced := false
		for i, p := range out {
			if p.Kind == d.Kind && p.Metadata.Namespace == d.Metadata.Namespace && p.Metadata.Name == d.Metadata.Name {
				out[i], replaced = d, true
			}
		}
		if !replaced {
			out = append(out, d)
		}
	}
	return out
}

func compareOnEvidence(t *testing.T, es evidenceSet, sets map[string][]*policy.Policy) int {
	t.Helper()
	canon := NewCanon()
	var flows []flow.Flow
	for _, e := range es.edges {
		base := flow.Flow{Source: e.Source, Destination: e.Destination, Protocol: e.Protocol, DstPort: e.Port}
		if e.Protocol == flow.ProtoICMP || e.Protocol == flow.ProtoICMPv6 {
			base.DstPort, base.ICMPType = 0, uint8(e.Port)
		}
		ips := e.DestinationIPs
		if base.Destination.IP != "" || len(ips) == 0 {
			ips = []string{base.Destination.IP}
		}
		for i, ip := range ips {
			if i == 3 {
				break
			}
			f := base
			f.Destination.IP = ip
			if cf, ok := canon.Flow(f); ok {
				flows = append(flows, cf)
			}
		}
	}
	if len(flows) == 0 {
		t.Errorf("%s: no comparable flows", es.name)
		return 0
	}
	compared := 0
	ty := newTally(t, canon.U)
	defer ty.finish()
	for name, ps := range sets {
		if len(ps) == 0 {
			continue
		}
		ce, err := NewCiliumEngine(canon.U, ps)
		if err != nil {
			t.Errorf("%s %s: cilium: %v", es.name, name, err)
			continue
		}
		pe, err := NewPostureEngine(ps)
		if err != nil {
			t.Errorf("%s %s: %v", es.name, name, err)
			continue
		}
		for i := range flows {
			ds, err := compareWith(ce, pe, ps, &flows[i])
			if err != nil {
				t.Fatalf("%s %s: %v", es.name, name, err)
			}
			for _, d := range ds {
				ty.add(es.name+" "+name, d)
			}
			compared += enforcedDirections(&flows[i])
		}
	}
	return compared
}
