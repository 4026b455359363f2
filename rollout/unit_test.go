package rollout

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

func shopPlan(t *testing.T) *NamespacePlan {
	t.Helper()
	p, err := PlanFromTarget("shop", shopTarget("shop"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanFromTargetSplitsParts(t *testing.T) {
	p := shopPlan(t)
	if len(p.Baseline) != 1 || p.Baseline[0].Metadata.Name != "posture-baseline" {
		t.Fatalf("baseline: %v", names(p.Baseline))
	}
	if got := names(p.Platform); strings.Join(got, ",") != "platform-dns" {
		t.Fatalf("platform: %v", got)
	}
	if got := strings.Join(p.WorkloadNames(), ","); got != "cart,frontend,payments,report" {
		t.Fatalf("workloads: %s", got)
	}
	pay, _ := p.Workload("payments")
	if len(pay.L7) != 1 || carriesL7(pay.Narrow[0]) || !carriesL7(pay.L7[0]) {
		t.Fatal("payments: want an L4 narrow policy and an L7 variant")
	}
}

func TestStageWalkAndDesired(t *testing.T) {
	p := shopPlan(t)
	s := Snapshot{Stage: StageObserve}
	var walked []string
	for range 10 {
		next, err := NextSnapshot(p, s, Step{})
		if err != nil {
			if !strings.Contains(err.Error(), "done") {
				t.Fatalf("after %v: %v", walked, err)
			}
			break
		}
		s = next
		walked = append(walked, s.Stage.String())
	}
	if got := strings.Join(walked, " "); got != "baseline platform narrow enforce l7 done" {
		t.Fatalf("walk: %s", got)
	}
	d := Desired(p, s)
	for _, pol := range d {
		if pol.Metadata.Labels[LabelPart] == PartBaseline {
			t.Fatal("baseline still desired at done")
		}
		if pol.Metadata.Labels[LabelPart] == PartWorkload {
			dd := pol.Spec.EnableDefaultDeny
			if !*dd.Ingress || !*dd.Egress {
				t.Fatalf("%s not enforced at done", pol.Metadata.Name)
			}
		}
		if pol.Metadata.Labels[LabelManagedBy] != ManagedByValue || pol.Metadata.Annotations[AnnoDigest] == "" {
			t.Fatalf("%s lacks posture's labels", pol.Metadata.Name)
		}
	}
	// Rolling back from done brings the baseline back and keeps the rest.
	back, err := PrevSnapshot(p, s, Step{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Stage != StageL7 || !strings.Contains(strings.Join(names(Desired(p, back)), ","), "posture-baseline") {
		t.Fatalf("rollback from done: stage %s, objects %v", back.Stage, names(Desired(p, back)))
	}
}

func TestWorkloadStepsAndDirections(t *testing.T) {
	p := shopPlan(t)
	s := Snapshot{Stage: StagePlatform}
	s, err := NextSnapshot(p, s, Step{Workloads: []string{"cart"}})
	if err != nil || s.Workloads["cart"].Stage != StageNarrow || s.Stage != StagePlatform {
		t.Fatalf("narrow cart: %v %+v", err, s)
	}
	s, err = NextSnapshot(p, s, Step{Workloads: []string{"cart"}, Direction: DirEgress})
	if err != nil || s.Workloads["cart"].Enforced != (DirectionEnforced{Egress: true}) {
		t.Fatalf("enforce cart egress: %v %+v", err, s.Workloads["cart"])
	}
	for _, pol := range Desired(p, s) {
		if pol.Metadata.Name == "cart" && (*pol.Spec.EnableDefaultDeny.Ingress || !*pol.Spec.EnableDefaultDeny.Egress) {
			t.Fatal("cart's policy does not carry egress-only default deny")
		}
	}
	// Rolling back egress of cart turns it off at once and leaves it narrow.
	s, err = PrevSnapshot(p, s, Step{Workloads: []string{"cart"}, Direction: DirEgress})
	if err != nil || s.Workloads["cart"].Enforced != (DirectionEnforced{}) || s.Workloads["cart"].Stage != StageNarrow {
		t.Fatalf("rollback cart egress: %v %+v", err, s.Workloads["cart"])
	}
	if _, err := NextSnapshot(p, s, Step{Workloads: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "known: cart") {
		t.Fatalf("unknown workload: %v", err)
	}
	if _, err := NextSnapshot(p, s, Step{To: stagePtr(StageDone)}); err == nil || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("done before enforcement: %v", err)
	}
	if _, err := NextSnapshot(p, Snapshot{Stage: StageBaseline}, Step{To: stagePtr(StageBaseline)}); err == nil {
		t.Fatal("promoting to the current stage succeeded")
	}
}

func gateByName(t *testing.T, r *GateReport, name string) GateResult {
	t.Helper()
	for _, g := range r.Gates {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("gate %s missing", name)
	return GateResult{}
}

func TestGates(t *testing.T) {
	p := shopPlan(t)
	narrow := Snapshot{Stage: StageNarrow, Workloads: map[string]WorkloadState{}}
	for _, w := range p.WorkloadNames() {
		narrow.Workloads[w] = WorkloadState{Stage: StageNarrow}
	}
	enforce, _ := NextSnapshot(p, narrow, Step{})
	last := t0.Add(-2 * 24 * time.Hour)
	cron := []CronJob{{Name: "report", LastSchedule: &last}}
	in := GateInput{Plan: p, Current: narrow, Target: enforce, Edges: shopEvidence("shop"), CronJobs: cron, Now: t0}

	rep, err := EvaluateGates(DefaultGates(), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passing() {
		t.Fatalf("clean evidence should pass: %+v", rep.Gates)
	}
	if g := gateByName(t, rep, GateCoverage); g.Value != "100%" || g.Numeric != 1 {
		t.Fatalf("coverage: %+v", g)
	}

	// Too little evidence: observation fails with an ETA.
	in2 := in
	in2.Now = t0.Add(-4 * 24 * time.Hour)
	in2.Edges = nil
	before := t0.Add(-6 * 24 * time.Hour)
	in2.CronJobs = []CronJob{{Name: "report", LastSchedule: &before}}
	for _, e := range shopEvidence("shop") {
		e.FirstSeen, e.LastSeen = t0.Add(-5*24*time.Hour), in2.Now
		in2.Edges = append(in2.Edges, e)
	}
	rep, _ = EvaluateGates(DefaultGates(), nil, in2)
	g := gateByName(t, rep, GateObservation)
	if g.Passing || g.Value != "1d" || g.Threshold != "≥ 7d" {
		t.Fatalf("observation: %+v", g)
	}
	if g := gateByName(t, rep, GateCronJobs); g.Passing {
		t.Fatalf("cronjob last ran before the evidence started; gate passed: %+v", g)
	}

	// A CronJob that never ran blocks, naming it.
	in3 := in
	in3.CronJobs = append(cron, CronJob{Name: "quarterly-export"})
	rep, _ = EvaluateGates(DefaultGates(), nil, in3)
	if g := gateByName(t, rep, GateCronJobs); g.Passing || !strings.Contains(g.Detail, "quarterly-export (never ran)") || g.Value != "1/2 ran" {
		t.Fatalf("cronjobs: %+v", g)
	}

	// Would-deny traffic blocks enforcement and is listed with a fix.
	in4 := in
	in4.Edges = append(shopEvidence("shop"), edge(pod("shop", "cart"), flow.Endpoint{Identity: flow.IdentityWorld, IP: "203.0.113.99"}, 6379, flow.ProtoTCP, t0.Add(-9*24*time.Hour), t0.Add(-time.Hour), 42))
	rep, _ = EvaluateGates(DefaultGates(), nil, in4)
	if g := gateByName(t, rep, GateWouldDeny); g.Passing || g.Numeric != 42 {
		t.Fatalf("would-deny: %+v", g)
	}
	if len(rep.TopDenied) != 1 || rep.TopDenied[0].Workload != "cart" || rep.TopDenied[0].Direction != "egress" || !strings.Contains(rep.TopDenied[0].Fix, "egress allow") {
		t.Fatalf("top denied: %+v", rep.TopDenied)
	}
	if rep.PerWorkload["cart"].WouldDenyEgress != 42 || rep.PerWorkload["cart"].Coverage >= 1 {
		t.Fatalf("per-workload: %+v", rep.PerWorkload["cart"])
	}
	if rep.ETA != nil {
		t.Fatal("coverage is not time-based; no ETA expected")
	}
	// The same traffic does not block a promotion that enforces nothing.
	in5 := in4
	in5.Current, in5.Target = Snapshot{Stage: StageBaseline}, Snapshot{Stage: StagePlatform}
	rep, _ = EvaluateGates(DefaultGates(), nil, in5)
	if !rep.Passing() {
		t.Fatalf("platform promotion blocked by enforcement gates: %v", rep.Failing())
	}

	// A step that turns nothing on is still blocked when the resulting set
	// already enforces a workload whose flows it would deny (its policy
	// may have changed since it was enforced).
	in8 := in4
	cur := Snapshot{Stage: StagePlatform, Workloads: map[string]WorkloadState{
		"cart": {Stage: StageEnforce, Enforced: DirectionEnforced{Ingress: true, Egress: true}}}}
	tgt, err := NextSnapshot(p, cur, Step{Workloads: []string{"report"}})
	if err != nil {
		t.Fatal(err)
	}
	in8.Current, in8.Target = cur, tgt
	rep, _ = EvaluateGates(DefaultGates(), nil, in8)
	if g := gateByName(t, rep, GateWouldDeny); g.Passing {
		t.Fatalf("narrowing report while cart (enforced) would drop redis traffic: %+v", g)
	}
	if g := gateByName(t, rep, GateCoverage); !g.Passing {
		t.Fatalf("coverage should not block a step that turns nothing on: %+v", g)
	}

	// An AUDIT verdict from the datapath blocks even where the evaluator
	// allows the flow.
	in7 := in
	audited := edge(pod("shop", "cart"), pod("shop", "payments"), 9090, flow.ProtoTCP, t0.Add(-9*24*time.Hour), t0.Add(-time.Hour), 5)
	audited.Verdicts = flow.VerdictCounts{}
	audited.Verdicts.Add(flow.VerdictAudit, 5)
	audited.ObservedIngress = 5
	in7.Edges = append(shopEvidence("shop"), audited)
	rep, _ = EvaluateGates(DefaultGates(), nil, in7)
	if g := gateByName(t, rep, GateWouldDeny); g.Passing || g.Numeric != 5 || rep.TopDenied[0].Direction != "ingress" {
		t.Fatalf("audit verdict: %+v %+v", g, rep.TopDenied)
	}
	// Samples replay the evidence a day apart, ending now.
	if n := len(rep.Samples); n < 10 || !rep.Samples[n-1].Time.Equal(t0) || rep.Samples[n-1].WouldDeny != 5 || rep.Samples[0].WouldDeny != 0 {
		t.Fatalf("samples: %+v", rep.Samples)
	}

	// A peer first seen in the quiet window blocks.
	in6 := in
	in6.Edges = append(shopEvidence("shop"), edge(pod("shop", "report"), pod("shop", "cart"), 8080, flow.ProtoTCP, t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), 1))
	rep, _ = EvaluateGates(DefaultGates(), nil, in6)
	if g := gateByName(t, rep, GateNewPeers); g.Passing || !strings.Contains(g.Detail, "shop/report → shop/cart") {
		t.Fatalf("new peers: %+v", g)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour: "7d", 5*24*time.Hour + 3*time.Hour: "5d 3h", 90 * time.Minute: "1h 30m",
		24 * time.Hour: "1d", 45 * time.Second: "45s", -time.Hour: "0s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %s, want %s", d, got, want)
		}
	}
	if pct(0.9996) != "99.9%" {
		t.Errorf("pct rounds a gap away: %s", pct(0.9996))
	}
}

// TestProposalAdapter runs the advisor on the synthetic shop and walks
// its namespace to done: every promotion's gates pass on the evidence the
// proposal came from, and done runs the target set's policies.
func TestProposalAdapter(t *testing.T) {
	edges := synth.Edges(synth.Shop(1))
	pr, err := advisor.Suggest(edges, advisor.Options{Namespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlansFromProposal(pr)
	if err != nil {
		t.Fatal(err)
	}
	p := plans["shop"]
	if p == nil || len(p.Workloads) < 4 {
		t.Fatalf("plan: %+v", p)
	}
	var last time.Time
	for _, e := range edges {
		if e.LastSeen.After(last) {
			last = e.LastSeen
		}
	}
	backup := last.Add(-12 * time.Hour)
	ev := NewEdgeEvidence(edges)
	nsEdges, _ := ev.Edges(context.Background(), "shop")
	s := Snapshot{Stage: StageObserve}
	var walked []string
	cfg := DefaultGates()
	cfg.ObservationWindow = 6 * 24 * time.Hour // the synthetic week
	for range 10 {
		next, err := NextSnapshot(p, s, Step{})
		if err != nil {
			break
		}
		rep, err := EvaluateGates(cfg, nil, GateInput{Plan: p, Current: s, Target: next, Edges: nsEdges,
			CronJobs: []CronJob{{Name: "backup", LastSchedule: &backup}}, Now: last})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range rep.Gates {
			if !g.Passing && g.Name != GateNewPeers {
				t.Errorf("%s → %s: gate %s fails: %s vs %s (%s) %+v", s.Stage, next.Stage, g.Name, g.Value, g.Threshold, g.Detail, rep.TopDenied)
			}
		}
		s = next
		walked = append(walked, s.Stage.String())
	}
	if walked[len(walked)-1] != "done" {
		t.Fatalf("walk ended at %v", walked)
	}
	got := map[string]bool{}
	for _, pol := range Desired(p, s) {
		got[pol.Metadata.Name] = true
	}
	for _, pol := range pr.Namespaces[0].Target {
		if !got[pol.Metadata.Name] {
			t.Errorf("target policy %s not applied at done", pol.Metadata.Name)
		}
	}
	if got[advisor.NameBaseline] {
		t.Error("baseline still applied at done")
	}
}

// TestStateStoreOptimisticConcurrency uses the fake dynamic client, with
// a reactor giving it the API server's resourceVersion check: two writers
// read the same version; the second write loses.
func TestStateStoreOptimisticConcurrency(t *testing.T) {
	scheme := runtime.NewScheme()
	c := dynfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		ConfigMapResource: "ConfigMapList", CronJobResource: "CronJobList", CNPResource: "CiliumNetworkPolicyList",
	})
	version := 0
	c.PrependReactor("create", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if version > 0 {
			return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "configmaps"}, StateConfigMap)
		}
		version = 1
		u := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).DeepCopy()
		u.SetResourceVersion(strconv.Itoa(version))
		return true, u, nil
	})
	var stored *unstructured.Unstructured
	c.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.UpdateAction).GetObject().(*unstructured.Unstructured).DeepCopy()
		if u.GetResourceVersion() != strconv.Itoa(version) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, StateConfigMap, errors.New("stale"))
		}
		version++
		u.SetResourceVersion(strconv.Itoa(version))
		stored = u
		return true, u, nil
	})
	c.PrependReactor("get", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if stored == nil {
			return false, nil, nil
		}
		return true, stored.DeepCopy(), nil
	})
	ctx := context.Background()
	a, err := loadState(ctx, c, "ns1")
	if err != nil || a.Stage != StageObserve || a.ResourceVersion != "" {
		t.Fatalf("fresh namespace: %+v %v", a, err)
	}
	a.Stage = StageBaseline
	a.record(Transition{Time: t0, From: StageObserve, To: StageBaseline, Actor: "a", Reason: "r"})
	if err := saveState(ctx, c, a); err != nil || a.ResourceVersion != "1" {
		t.Fatalf("first save: %v (rv %q)", err, a.ResourceVersion)
	}
	// A second creator of a fresh record loses.
	z := &State{Namespace: "ns1", Snapshot: Snapshot{Stage: StagePlatform}}
	if err := saveState(ctx, c, z); !errors.Is(err, ErrConcurrent) {
		t.Fatalf("duplicate create: want ErrConcurrent, got %v", err)
	}
	x, y := *a, *a
	x.Stage, y.Stage = StagePlatform, StageNarrow
	if err := saveState(ctx, c, &x); err != nil {
		t.Fatal(err)
	}
	if err := saveState(ctx, c, &y); !errors.Is(err, ErrConcurrent) {
		t.Fatalf("stale write: want ErrConcurrent, got %v", err)
	}
	got, err := loadState(ctx, c, "ns1")
	if err != nil || got.Stage != StagePlatform || len(got.History) != 1 || got.ResourceVersion != "2" {
		t.Fatalf("after the race: %+v %v", got, err)
	}
}

func TestDecodeStateRejectsBadRecords(t *testing.T) {
	for data, want := range map[string]string{
		`{`:                                    "configmap ns/posture-rollout key state.json",
		`{"namespace":"other"}`:                "state is for namespace",
		`{"stage":"nope"}`:                     "unknown stage",
		`{"namespace":"ns","stage":"enforce"}`: "",
	} {
		_, err := decodeState("ns", data)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("decodeState(%s): %v, want %q", data, err, want)
		}
	}
}

func TestValidateRejectsBadPlans(t *testing.T) {
	good := shopTarget("shop")
	dup := append(good, cnp("shop", "cart", policy.Rule{EndpointSelector: sel("app", "other")}))
	if _, err := PlanFromTarget("shop", dup); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := PlansFromTarget([]*policy.Policy{cnp("", "x", policy.Rule{EndpointSelector: sel("app", "x")})}); err == nil || !strings.Contains(err.Error(), "no namespace") {
		t.Fatalf("no namespace: %v", err)
	}
}

// TestStateFitsConfigMap fills the record to its limits (full history,
// 500 workloads, an operation in flight) and checks it stays under the
// 1 MiB a ConfigMap may hold.
func TestStateFitsConfigMap(t *testing.T) {
	s := &State{Namespace: "ns", Snapshot: Snapshot{Stage: StageNarrow, Workloads: map[string]WorkloadState{}}}
	for i := range 500 {
		s.Workloads[strings.Repeat("w", 40)+strconv.Itoa(i)] = WorkloadState{Stage: StageEnforce, Enforced: DirectionEnforced{Ingress: true}, Since: t0}
	}
	for i := range maxHistory + 10 {
		s.record(Transition{Time: t0, From: StageNarrow, To: StageEnforce, Workload: strings.Repeat("w", 40) + strconv.Itoa(i%500),
			Actor: "someone@some-host.example.com", Reason: "enforced: ingress,egress; forced past zero-would-deny: CHG-123456 approved by the on-call lead", Forced: true})
	}
	s.Operation = &Operation{Kind: "promote", Actor: "a", Holder: "h", Started: t0, Target: s.Snapshot.Clone(), Previous: s.Snapshot.Clone()}
	enc, err := encodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.History) >= maxHistory || len(s.History) < 1000 || len(enc) > maxStateBytes {
		t.Fatalf("history %d, encoded %d bytes", len(s.History), len(enc))
	}
	t.Logf("worst-case state: %d KiB", len(enc)>>10)
}
