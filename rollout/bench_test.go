package rollout

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

// BenchmarkPromote200 promotes a namespace of 200 workloads from platform
// through narrow and enforce against the local API server (two
// promotions: 400 server-side applies after as many dry runs, gates on 200
// edges, state writes). The timer covers only the two promotions.
func BenchmarkPromote200(b *testing.B) {
	dc := cluster(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-promote-%d-%d", time.Now().UnixNano()%1e6, i)
		plan, e, ev := benchNamespace(b, dc, ns, 200)
		b.StartTimer()
		for _, to := range []Stage{StageNarrow, StageEnforce} {
			if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(to)}}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkApply200Baseline is the floor the promotion is compared with:
// the same 400 objects (200 narrow, then 200 enforced) server-side applied
// one after another with no gates, dry runs or state, as a plain
// `kubectl apply --server-side` loop would.
func BenchmarkApply200Baseline(b *testing.B) {
	dc := cluster(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-apply-%d-%d", time.Now().UnixNano()%1e6, i)
		plan, _, _ := benchNamespace(b, dc, ns, 200)
		narrow := Snapshot{Stage: StageNarrow, Workloads: map[string]WorkloadState{}}
		enforce := Snapshot{Stage: StageEnforce, Workloads: map[string]WorkloadState{}}
		for _, w := range plan.WorkloadNames() {
			narrow.Workloads[w] = WorkloadState{Stage: StageNarrow}
			enforce.Workloads[w] = WorkloadState{Stage: StageEnforce, Enforced: DirectionEnforced{Ingress: true, Egress: true}}
		}
		b.StartTimer()
		for _, s := range []Snapshot{narrow, enforce} {
			for _, p := range Desired(plan, s) {
				if p.Metadata.Labels[LabelPart] != PartWorkload {
					continue
				}
				u, _ := toUnstructured(p)
				if _, err := dc.Resource(CNPResource).Namespace(ns).Apply(ctx, p.Metadata.Name, u, metav1.ApplyOptions{FieldManager: "baseline"}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func benchNamespace(b *testing.B, dc dynamic.Interface, ns string, n int) (*NamespacePlan, *Engine, *EdgeEvidence) {
	b.Helper()
	mkNamespace(b, dc, ns)
	target, edges := bigPlan(ns, n)
	plan, err := PlanFromTarget(ns, target)
	if err != nil {
		b.Fatal(err)
	}
	e := newTestEngine(dc, "bench")
	ev := NewEdgeEvidence(edges)
	if _, err := e.Promote(context.Background(), Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StagePlatform)}}); err != nil {
		b.Fatal(err)
	}
	return plan, e, ev
}

var statusOnce sync.Once

// statusNamespaces makes 500 namespaces, each with a rollout state of four
// workloads (one enforced) and a CronJob, once per process.
func statusNamespaces(b *testing.B, dc dynamic.Interface) []string {
	var nss []string
	for i := range 500 {
		nss = append(nss, fmt.Sprintf("bench-status-%03d", i))
	}
	statusOnce.Do(func() {
		ctx := context.Background()
		errs := parallel(ctx, 16, len(nss), func(i int) error {
			ns := nss[i]
			mkNamespace(b, dc, ns)
			st := &State{Namespace: ns, StageSince: t0, Snapshot: Snapshot{Stage: StageNarrow, Workloads: map[string]WorkloadState{
				"frontend": {Stage: StageEnforce, Enforced: DirectionEnforced{Ingress: true, Egress: true}, Since: t0},
				"cart":     {Stage: StageNarrow, Since: t0}, "payments": {Stage: StageNarrow, Since: t0}, "report": {Stage: StageNarrow, Since: t0},
			}}}
			for _, to := range []Stage{StageBaseline, StagePlatform, StageNarrow} {
				st.record(Transition{Time: t0, From: to - 1, To: to, Actor: "bench", Reason: "bench"})
			}
			return saveState(ctx, dc, st)
		})
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	return nss
}

// BenchmarkStatus500 computes the status of 500 namespaces: one list of
// the state ConfigMaps and one of the CronJobs, then for each namespace
// its stage, workloads and the gates of its next promotion, evaluated
// against nine edges of evidence with the policy evaluator.
func BenchmarkStatus500(b *testing.B) {
	dc := cluster(b)
	nss := statusNamespaces(b, dc)
	plans := map[string]*NamespacePlan{}
	evAll := shopEvidence("x")[:0]
	for _, ns := range nss {
		p, err := PlanFromTarget(ns, shopTarget(ns))
		if err != nil {
			b.Fatal(err)
		}
		plans[ns] = p
		evAll = append(evAll, shopEvidence(ns)...)
	}
	ev := NewEdgeEvidence(evAll)
	ctx := context.Background()
	for b.Loop() {
		st, err := ComputeStatus(ctx, dc, StatusOptions{Evidence: ev, Now: t0,
			Plans: func(ns string) (*NamespacePlan, error) { return plans[ns], nil }})
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Namespaces) < 500 {
			b.Fatalf("%d namespaces", len(st.Namespaces))
		}
	}
}

// BenchmarkStatus500Baseline is the I/O floor of the status: listing the
// 500 state ConfigMaps and decoding them, nothing else.
func BenchmarkStatus500Baseline(b *testing.B) {
	dc := cluster(b)
	statusNamespaces(b, dc)
	ctx := context.Background()
	for b.Loop() {
		s, err := listStates(ctx, dc)
		if err != nil || len(s) < 500 {
			b.Fatal(len(s), err)
		}
	}
}
