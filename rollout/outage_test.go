package rollout

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/posture-dev/posture/internal/kubetest"
)

// killAfter is a transport that stops the API server just before the
// n-th real (not dry-run) apply request goes out.
type killAfter struct {
	next    http.RoundTripper
	n       int64
	applies atomic.Int64
	kill    func()
}

func (k *killAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch && !strings.Contains(r.URL.RawQuery, "dryRun") {
		if k.applies.Add(1) == k.n {
			k.kill()
		}
	}
	return k.next.RoundTrip(r)
}

// TestAcceptanceAPIServerOutage stops kube-apiserver in the middle of a
// promotion of 40 workloads, restarts it, and checks that status reports
// the interrupted promotion, that a promote completes it idempotently and
// records it once, and that an unreachable server and a missing CRD give
// clear errors.
func TestAcceptanceAPIServerOutage(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := "big"
	admin, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mkNamespace(t, admin, ns)
	target, edges := bigPlan(ns, 40)
	plan, err := PlanFromTarget(ns, target)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEdgeEvidence(edges)
	e := newTestEngine(admin, "erin")
	if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StagePlatform)}}); err != nil {
		t.Fatal(err)
	}

	cfg := rest.CopyConfig(env.Config)
	ka := &killAfter{n: 15, kill: env.StopAPIServer}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { ka.next = rt; return ka }
	cfg.Timeout = 5 * time.Second
	flaky, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fe := newTestEngine(flaky, "erin")
	_, err = fe.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageNarrow)}})
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("promotion during an outage: want an InterruptedError, got %v", err)
	}
	if !strings.Contains(err.Error(), "cannot reach the API server") || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("outage error should say the server is unreachable and how to recover:\n%v", err)
	}
	// While it is down, status cannot be read, and says why.
	if _, err := ComputeStatus(ctx, admin, StatusOptions{Namespaces: []string{ns}}); err == nil || !strings.Contains(err.Error(), "cannot reach the API server") {
		t.Fatalf("status during outage: %v", err)
	}

	restart := time.Now()
	if err := env.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver back after %s", time.Since(restart).Round(time.Millisecond))
	// Looked at two minutes later, past the promoter's lease.
	st, err := ComputeStatus(ctx, admin, StatusOptions{Namespaces: []string{ns}, Plans: func(string) (*NamespacePlan, error) { return plan, nil }, Now: t0.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	op := st.Namespaces[0].Operation
	if op == nil || op.Kind != "promote" || op.To != StageNarrow || op.State != "interrupted" {
		t.Fatalf("status after restart should show the interrupted promotion, got %+v", op)
	}
	if n := len(cnpNames(t, admin, ns)); n <= 1 || n >= 41 {
		t.Fatalf("expected a partly applied set (baseline, platform and some workloads), found %d objects", n)
	}

	// Another process must wait for the lease; the same one may resume.
	other := newTestEngine(admin, "frank")
	var be *BusyError
	if _, err := other.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev}); !errors.As(err, &be) {
		t.Fatalf("other process during the lease: want BusyError, got %v", err)
	}
	fe.Client = admin
	res, err := fe.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev})
	if err != nil {
		t.Fatalf("completing the interrupted promotion: %v", err)
	}
	if !res.Resumed || res.To != StageNarrow || len(cnpNames(t, admin, ns)) != 41 {
		t.Fatalf("resume: resumed=%v to=%s objects=%d", res.Resumed, res.To, len(cnpNames(t, admin, ns)))
	}
	state, _ := loadState(ctx, admin, ns)
	narrowed := 0
	for _, tr := range state.History {
		if tr.To == StageNarrow && tr.Workload != "" {
			narrowed++
		}
	}
	if narrowed != 40 || state.Operation != nil {
		t.Fatalf("history has %d workload narrow transitions (want 40), op %+v", narrowed, state.Operation)
	}

	// Interrupt the next promotion (enforce) too, and this time revert it
	// with a plain rollback once the server is back.
	ka.applies.Store(0)
	ka.n = 10
	fe.Client = flaky
	_, err = fe.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(StageEnforce)}})
	if !errors.As(err, &ie) {
		t.Fatalf("second outage: want an InterruptedError, got %v", err)
	}
	if err := env.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	fe.Client = admin
	if _, err := fe.Rollback(ctx, Request{Namespace: ns, Plan: plan}); err != nil {
		t.Fatalf("reverting the interrupted promotion: %v", err)
	}
	state, _ = loadState(ctx, admin, ns)
	if state.Operation != nil || state.Stage != StageNarrow {
		t.Fatalf("after revert: stage %s op %+v", state.Stage, state.Operation)
	}
	l, _ := admin.Resource(CNPResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	for _, u := range l.Items {
		if in, _, _ := unstructuredBool(u.Object, "spec", "enableDefaultDeny", "ingress"); in {
			t.Fatalf("%s still enforces after reverting the interrupted promotion", u.GetName())
		}
	}

	// A missing CRD is named as such.
	crd := kubetestCRD()
	if err := admin.Resource(crd).Delete(ctx, "ciliumnetworkpolicies.cilium.io", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev})
		if (err != nil && strings.Contains(err.Error(), "not served by this cluster")) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("missing CRD noticed after %s", time.Since(deadline.Add(-20*time.Second)).Round(time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "install Cilium") {
		t.Fatalf("missing CRD: want a clear error, got %v", err)
	}
}

func kubetestCRD() schemaGVR {
	return schemaGVR{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
}

type schemaGVR = schema.GroupVersionResource

var unstructuredBool = unstructured.NestedBool
