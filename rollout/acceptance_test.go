package rollout

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/posture-dev/posture/internal/kubetest"
)

var nsResource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// The acceptance tests share one real API server (starting one takes
// seconds); each test works in its own namespace.
var (
	sharedOnce sync.Once
	sharedEnv  *kubetest.Env
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		sharedEnv.Stop()
	}
	os.Exit(code)
}

func cluster(t testing.TB) dynamic.Interface {
	t.Helper()
	bins := kubetest.BinDir("")
	if m := kubetest.Missing(bins); m != "" {
		kubetest.Start(t) // skips locally, fails under CI=true, naming what is missing
	}
	sharedOnce.Do(func() {
		ctx := context.Background()
		sharedEnv, sharedErr = kubetest.Launch(ctx, kubetest.Options{BinDir: bins})
		if sharedErr == nil {
			sharedErr = kubetest.InstallCRDs(ctx, sharedEnv.Config, bins)
		}
	})
	if sharedErr != nil {
		t.Fatalf("starting the shared API server: %v", sharedErr)
	}
	dc, err := dynamic.NewForConfig(sharedEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func mkNamespace(t testing.TB, dc dynamic.Interface, ns string) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if _, err := dc.Resource(nsResource).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
}

// mkCronJob creates a CronJob and sets status.lastScheduleTime, as the
// controller manager would after a run.
func mkCronJob(t *testing.T, dc dynamic.Interface, ns, name string, last *time.Time) {
	t.Helper()
	ctx := context.Background()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"schedule": "0 3 * * *",
			"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"restartPolicy": "OnFailure",
				"containers":    []any{map[string]any{"name": "report", "image": "registry.example/report:1"}},
			}}}},
		},
	}}
	got, err := dc.Resource(CronJobResource).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating cronjob: %v", err)
	}
	if last != nil {
		_ = unstructured.SetNestedField(got.Object, last.UTC().Format(time.RFC3339), "status", "lastScheduleTime")
		if _, err := dc.Resource(CronJobResource).Namespace(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting cronjob status: %v", err)
		}
	}
}

func getCNP(t *testing.T, dc dynamic.Interface, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := dc.Resource(CNPResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get cnp %s/%s: %v", ns, name, err)
	}
	return u
}

func cnpNames(t *testing.T, dc dynamic.Interface, ns string) []string {
	t.Helper()
	l, err := dc.Resource(CNPResource).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range l.Items {
		out = append(out, u.GetName())
	}
	return out
}

func defaultDeny(t *testing.T, u *unstructured.Unstructured) (in, eg bool) {
	t.Helper()
	in, okIn, _ := unstructured.NestedBool(u.Object, "spec", "enableDefaultDeny", "ingress")
	eg, okEg, _ := unstructured.NestedBool(u.Object, "spec", "enableDefaultDeny", "egress")
	if !okIn || !okEg {
		t.Fatalf("%s: enableDefaultDeny not set explicitly: %v", u.GetName(), u.Object["spec"])
	}
	return in, eg
}

func newTestEngine(dc dynamic.Interface, actor string) *Engine {
	e := NewEngine(dc, actor)
	e.Now = func() time.Time { return t0 }
	e.Clock = e.Now
	return e
}

func shopSetup(t *testing.T, ns string) (dynamic.Interface, *NamespacePlan, *EdgeEvidence) {
	t.Helper()
	dc := cluster(t)
	mkNamespace(t, dc, ns)
	last := t0.Add(-2 * 24 * time.Hour)
	mkCronJob(t, dc, ns, "report", &last)
	plan, err := PlanFromTarget(ns, shopTarget(ns))
	if err != nil {
		t.Fatal(err)
	}
	return dc, plan, NewEdgeEvidence(shopEvidence(ns))
}

func stagePtr(s Stage) *Stage { return &s }

// TestAcceptancePromoteThroughEveryStage walks a namespace with four
// workloads and a CronJob from observe to done against a real API server
// with Cilium's CRDs, checking the objects in the cluster at each stage.
func TestAcceptancePromoteThroughEveryStage(t *testing.T) {
	ns := "shop-every-stage"
	dc, plan, ev := shopSetup(t, ns)
	ctx := context.Background()
	e := newTestEngine(dc, "alice")
	req := func(st Step) Request { return Request{Namespace: ns, Plan: plan, Step: st, Evidence: ev} }

	res, err := e.Promote(ctx, req(Step{}))
	if err != nil {
		t.Fatalf("observe→baseline: %v", err)
	}
	if res.To != StageBaseline || strings.Join(cnpNames(t, dc, ns), ",") != "posture-baseline" {
		t.Fatalf("after baseline: stage %s, objects %v", res.To, cnpNames(t, dc, ns))
	}
	if in, eg := defaultDeny(t, getCNP(t, dc, ns, "posture-baseline")); in || eg {
		t.Fatal("baseline must not enable default deny")
	}
	if _, err := e.Promote(ctx, req(Step{})); err != nil {
		t.Fatalf("baseline→platform: %v", err)
	}
	// Narrow one workload at a time first, as the checklist says.
	res, err = e.Promote(ctx, req(Step{Workloads: []string{"frontend"}}))
	if err != nil {
		t.Fatalf("narrow frontend: %v", err)
	}
	if res.To != StagePlatform {
		t.Fatalf("namespace stage after narrowing one of four workloads = %s, want platform", res.To)
	}
	if in, eg := defaultDeny(t, getCNP(t, dc, ns, "frontend")); in || eg {
		t.Fatal("narrow allows must be staged without default deny")
	}
	if res, err = e.Promote(ctx, req(Step{})); err != nil || res.To != StageNarrow {
		t.Fatalf("narrow the rest: %v (stage %v)", err, res)
	}
	// Enforce ingress of cart only, then everything.
	if _, err = e.Promote(ctx, req(Step{Workloads: []string{"cart"}, Direction: DirIngress})); err != nil {
		t.Fatalf("enforce cart ingress: %v", err)
	}
	if in, eg := defaultDeny(t, getCNP(t, dc, ns, "cart")); !in || eg {
		t.Fatalf("cart after ingress enforce: ingress=%v egress=%v", in, eg)
	}
	if res, err = e.Promote(ctx, req(Step{To: stagePtr(StageEnforce)})); err != nil || res.To != StageEnforce {
		t.Fatalf("enforce all: %v", err)
	}
	for _, w := range []string{"frontend", "cart", "payments", "report"} {
		if in, eg := defaultDeny(t, getCNP(t, dc, ns, w)); !in || !eg {
			t.Fatalf("%s not enforced both ways", w)
		}
	}
	if _, found, _ := unstructured.NestedSlice(getCNP(t, dc, ns, "payments").Object, "spec", "ingress"); !found {
		t.Fatal("payments lost its ingress")
	}
	if hasHTTP(getCNP(t, dc, ns, "payments")) {
		t.Fatal("L7 rules applied before stage l7")
	}
	if res, err = e.Promote(ctx, req(Step{})); err != nil || res.To != StageL7 {
		t.Fatalf("enforce→l7: %v %v", err, res)
	}
	if !hasHTTP(getCNP(t, dc, ns, "payments")) {
		t.Fatal("payments has no HTTP rule at stage l7")
	}
	if res, err = e.Promote(ctx, req(Step{})); err != nil || res.To != StageDone {
		t.Fatalf("l7→done: %v", err)
	}
	got := strings.Join(cnpNames(t, dc, ns), ",")
	if got != "cart,frontend,payments,platform-dns,report" {
		t.Fatalf("done should run exactly the target set, got %s", got)
	}
	if _, err := e.Promote(ctx, req(Step{})); err == nil {
		t.Fatal("promoting past done succeeded")
	}

	st, err := loadState(ctx, dc, ns)
	if err != nil {
		t.Fatal(err)
	}
	var nsTransitions []string
	for _, tr := range st.History {
		if tr.Actor != "alice" || tr.Time != t0 || tr.Reason == "" {
			t.Fatalf("transition without actor, time or reason: %+v", tr)
		}
		if tr.Workload == "" {
			nsTransitions = append(nsTransitions, tr.From.String()+"→"+tr.To.String())
		}
	}
	want := "observe→baseline baseline→platform platform→narrow narrow→enforce enforce→l7 l7→done"
	if strings.Join(nsTransitions, " ") != want {
		t.Fatalf("namespace transitions:\n got %s\nwant %s", strings.Join(nsTransitions, " "), want)
	}

	status, err := ComputeStatus(ctx, dc, StatusOptions{Namespaces: []string{ns}, Evidence: ev,
		Plans: func(string) (*NamespacePlan, error) { return plan, nil }, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	s := status.Namespaces[0]
	if s.Stage != StageDone || s.NextStage != nil || s.WouldDeny24 != 0 || s.Coverage != 1 || len(s.Workloads) != 4 {
		t.Fatalf("status at done: %+v", s)
	}
}

func hasHTTP(u *unstructured.Unstructured) bool {
	b, _ := u.MarshalJSON()
	return strings.Contains(string(b), `"http"`)
}

// TestAcceptanceGatesRefuseAndForce checks that would-deny evidence blocks
// enforcement, naming the gate and the offending flow, that nothing is
// written, and that --force with a reason goes through and is recorded.
func TestAcceptanceGatesRefuseAndForce(t *testing.T) {
	ns := "shop-gates"
	dc, plan, _ := shopSetup(t, ns)
	ev := NewEdgeEvidence(append(shopEvidence(ns), strayEdge()))
	ctx := context.Background()
	e := newTestEngine(dc, "bob")
	req := Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageNarrow)}}
	if _, err := e.Promote(ctx, req); err != nil {
		t.Fatalf("to narrow (nothing enforced yet, must pass): %v", err)
	}
	before := getCNP(t, dc, ns, "cart").GetResourceVersion()
	req.Step = Step{Workloads: []string{"cart"}}
	_, err := e.Promote(ctx, req)
	var ge *GateError
	if !errors.As(err, &ge) {
		t.Fatalf("enforcing cart with stray redis traffic: want a GateError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{GateWouldDeny, GateCoverage, "shop-gates/cart → 203.0.113.99 6379/TCP", "--force"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not mention %q:\n%s", want, msg)
		}
	}
	if getCNP(t, dc, ns, "cart").GetResourceVersion() != before {
		t.Fatal("a refused promotion changed the cluster")
	}
	// The unrelated frontend may still be enforced: its flows are clean.
	if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{Workloads: []string{"frontend"}}}); err != nil {
		t.Fatalf("enforcing frontend (clean evidence): %v", err)
	}
	req.Force, req.Reason = true, ""
	if _, err := e.Promote(ctx, req); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("--force without --reason: %v", err)
	}
	req.Reason = "redis is being decommissioned today (CHG-1234)"
	if _, err := e.Promote(ctx, req); err != nil {
		t.Fatalf("forced promotion: %v", err)
	}
	st, _ := loadState(ctx, dc, ns)
	lastT := st.History[len(st.History)-1]
	if !lastT.Forced || lastT.Workload != "cart" || !strings.Contains(lastT.Reason, "CHG-1234") || !strings.Contains(lastT.Reason, GateWouldDeny) {
		t.Fatalf("forced transition not recorded with its reason and the gates it overrode: %+v", lastT)
	}
}

// TestAcceptanceRollback rolls an enforced namespace back in one call and
// checks default deny is off at once, then rolls back to observe.
func TestAcceptanceRollback(t *testing.T) {
	ns := "shop-rollback"
	dc, plan, ev := shopSetup(t, ns)
	ctx := context.Background()
	e := newTestEngine(dc, "carol")
	if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageEnforce)}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Rollback(ctx, Request{Namespace: ns, Plan: plan, Reason: "checkout errors after enforce"})
	if err != nil {
		t.Fatal(err)
	}
	if res.To != StageNarrow {
		t.Fatalf("rollback from enforce went to %s, want narrow", res.To)
	}
	for _, w := range []string{"frontend", "cart", "payments", "report"} {
		if in, eg := defaultDeny(t, getCNP(t, dc, ns, w)); in || eg {
			t.Fatalf("%s still enforcing after rollback", w)
		}
	}
	if _, err := e.Rollback(ctx, Request{Namespace: ns, Plan: plan, Step: Step{To: stagePtr(StageObserve)}}); err != nil {
		t.Fatal(err)
	}
	if n := cnpNames(t, dc, ns); len(n) != 0 {
		t.Fatalf("objects left after rollback to observe: %v", n)
	}
	st, _ := loadState(ctx, dc, ns)
	if st.Stage != StageObserve || len(st.Workloads) != 0 {
		t.Fatalf("state after rollback to observe: %+v", st.Snapshot)
	}
	found := false
	for _, tr := range st.History {
		if tr.From == StageEnforce && tr.To == StageNarrow && tr.Workload == "" && strings.Contains(tr.Reason, "checkout errors") {
			found = true
		}
	}
	if !found {
		t.Fatalf("rollback not in history: %+v", st.History)
	}
}

// TestAcceptanceHandEditConflict edits a posture-owned policy the way
// kubectl edit does and checks that the next apply refuses (naming the
// manager), writes nothing, and overwrites only with --force.
func TestAcceptanceHandEditConflict(t *testing.T) {
	ns := "shop-handedit"
	dc, plan, ev := shopSetup(t, ns)
	ctx := context.Background()
	e := newTestEngine(dc, "dave")
	if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageNarrow)}}); err != nil {
		t.Fatal(err)
	}
	u := getCNP(t, dc, ns, "cart")
	in, _, _ := unstructured.NestedSlice(u.Object, "spec", "ingress")
	rule := in[0].(map[string]any)
	rule["toPorts"] = []any{map[string]any{"ports": []any{map[string]any{"port": "8081", "protocol": "TCP"}}}}
	_ = unstructured.SetNestedSlice(u.Object, in, "spec", "ingress")
	if _, err := dc.Resource(CNPResource).Namespace(ns).Update(ctx, u, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	edited := getCNP(t, dc, ns, "cart").GetResourceVersion()
	drift, err := Drift(ctx, dc, plan, Snapshot{Stage: StageNarrow, Workloads: map[string]WorkloadState{
		"cart": {Stage: StageNarrow}, "frontend": {Stage: StageNarrow}, "payments": {Stage: StageNarrow}, "report": {Stage: StageNarrow}}})
	if err != nil || len(drift) != 1 || !strings.Contains(drift[0], "cart was also edited by kubectl-edit") {
		t.Fatalf("drift: %v %v", drift, err)
	}
	frontendRV := getCNP(t, dc, ns, "frontend").GetResourceVersion()

	_, err = e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageEnforce)}})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ConflictError, got %v", err)
	}
	if !strings.Contains(err.Error(), "kubectl-edit") || !strings.Contains(err.Error(), "cart") {
		t.Fatalf("conflict does not name the object and manager:\n%v", err)
	}
	if getCNP(t, dc, ns, "cart").GetResourceVersion() != edited || getCNP(t, dc, ns, "frontend").GetResourceVersion() != frontendRV {
		t.Fatal("a refused apply changed objects")
	}
	st, _ := loadState(ctx, dc, ns)
	if st.Operation != nil || st.Stage != StageNarrow {
		t.Fatalf("state after refused apply: op=%+v stage=%s", st.Operation, st.Stage)
	}
	if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageEnforce)}, Force: true, Reason: "revert the manual port change"}); err != nil {
		t.Fatalf("forced over the hand edit: %v", err)
	}
	in, _, _ = unstructured.NestedSlice(getCNP(t, dc, ns, "cart").Object, "spec", "ingress")
	if p := in[0].(map[string]any)["toPorts"].([]any)[0].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"]; p != "8080" {
		t.Fatalf("port after forced apply = %v, want 8080", p)
	}
}

// TestAcceptanceConcurrentPromoters races promoters from separate
// processes (separate holders) on one namespace: exactly one wins each
// round and the history has each transition once.
func TestAcceptanceConcurrentPromoters(t *testing.T) {
	ns := "shop-concurrent"
	dc, plan, ev := shopSetup(t, ns)
	ctx := context.Background()
	for round, want := range []Stage{StageBaseline, StagePlatform, StageNarrow} {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		start := make(chan struct{})
		for i := range errs {
			wg.Go(func() {
				e := newTestEngine(dc, "promoter-"+string(rune('a'+i)))
				<-start
				_, errs[i] = e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: &want}})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			var be *BusyError
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrConcurrent), errors.As(err, &be), strings.Contains(err.Error(), "already at"):
			default:
				t.Fatalf("round %d: unexpected error: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d promoters won, want exactly 1 (%v)", round, wins, errs)
		}
	}
	st, _ := loadState(ctx, dc, ns)
	var got []string
	for _, tr := range st.History {
		if tr.Workload == "" {
			got = append(got, tr.To.String())
		}
	}
	if strings.Join(got, ",") != "baseline,platform,narrow" || st.Operation != nil {
		t.Fatalf("history %v, op %+v", got, st.Operation)
	}
}

// TestAcceptanceForbidden runs as a user without RBAC permissions.
func TestAcceptanceForbidden(t *testing.T) {
	ns := "shop-forbidden"
	dc, plan, ev := shopSetup(t, ns)
	_ = dc
	nobody, err := dynamic.NewForConfig(sharedEnv.As("mallory"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = newTestEngine(nobody, "mallory").Promote(context.Background(), Request{Namespace: ns, Plan: plan, Evidence: ev})
	if err == nil || !strings.Contains(err.Error(), "forbidden by RBAC") || !strings.Contains(err.Error(), "deploy/rollout/rbac.yaml") {
		t.Fatalf("want a clear RBAC error, got %v", err)
	}
}
