package rollout

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/internal/testenv"
)

// applyManifest creates every document of a YAML file (RBAC kinds only).
func applyManifest(t *testing.T, dc dynamic.Interface, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]schema.GroupVersionResource{
		"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	}
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		gvr, ok := res[u.GetKind()]
		if !ok {
			t.Fatalf("%s: unexpected kind %s", path, u.GetKind())
		}
		var ri dynamic.ResourceInterface = dc.Resource(gvr)
		if u.GetNamespace() != "" {
			ri = dc.Resource(gvr).Namespace(u.GetNamespace())
		}
		if _, err := ri.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// TestAcceptanceLeastPrivilegeRBAC installs deploy/rollout/rbac.yaml and
// checks that it is enough, and no more: a user granted the promoter role
// in one namespace walks it to done but cannot touch another namespace,
// and the Deployment's service account reads every namespace's status but
// cannot promote.
func TestAcceptanceLeastPrivilegeRBAC(t *testing.T) {
	ns := "shop-rbac"
	dc, plan, ev := shopSetup(t, ns)
	applyManifest(t, dc, filepath.Join(testenv.RepoRoot(), "deploy", "rollout", "rbac.yaml"))
	rb := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": "posture-rollout-promoter", "namespace": ns},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "posture-rollout-promoter"},
		"subjects": []any{map[string]any{"kind": "User", "name": "shop-admin", "apiGroup": "rbac.authorization.k8s.io"}},
	}}
	rbGVR := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}
	if _, err := dc.Resource(rbGVR).Namespace(ns).Create(context.Background(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, _ := dynamic.NewForConfig(sharedEnv.As("shop-admin"))
	e := newTestEngine(admin, "shop-admin")
	// The authorizer sees new bindings through an informer: wait for it.
	for deadline := time.Now().Add(15 * time.Second); ; {
		_, err := loadState(ctx, admin, ns)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the promoter binding never took effect: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, to := range []Stage{StageNarrow, StageEnforce, StageDone} {
		if _, err := e.Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev, Step: Step{To: stagePtr(to)}}); err != nil {
			t.Fatalf("promoter role, to %s: %v", to, err)
		}
	}
	if _, err := e.Rollback(ctx, Request{Namespace: ns, Plan: plan, Step: Step{To: stagePtr(StageObserve)}}); err != nil {
		t.Fatalf("promoter role, rollback: %v", err)
	}
	other := "shop-rbac-other"
	mkNamespace(t, dc, other)
	otherPlan, _ := PlanFromTarget(other, shopTarget(other))
	if _, err := e.Promote(ctx, Request{Namespace: other, Plan: otherPlan, Evidence: ev}); err == nil || !strings.Contains(err.Error(), "forbidden by RBAC") {
		t.Fatalf("promoter in a namespace it was not granted: %v", err)
	}

	sa, _ := dynamic.NewForConfig(sharedEnv.As("system:serviceaccount:posture-system:posture-rollout",
		"system:serviceaccounts", "system:serviceaccounts:posture-system", "system:authenticated"))
	st, err := ComputeStatus(ctx, sa, StatusOptions{Evidence: ev, Now: t0})
	if err != nil {
		t.Fatalf("reader role, status of every namespace: %v", err)
	}
	found := false
	for _, n := range st.Namespaces {
		found = found || n.Namespace == ns
	}
	if !found {
		t.Fatalf("status as the service account misses %s", ns)
	}
	if _, err := newTestEngine(sa, "sa").Promote(ctx, Request{Namespace: ns, Plan: plan, Evidence: ev}); err == nil || !strings.Contains(err.Error(), "forbidden by RBAC") {
		t.Fatalf("reader role must not promote: %v", err)
	}
}
