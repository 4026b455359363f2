package recorder

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/internal/kubetest"
	"github.com/posture-dev/posture/internal/testenv"
)

// TestKubeSourceWithAgentRBAC runs the informer source against a real API
// server as the agent's service account, bound by deploy/agent/rbac.yaml:
// the role must be enough to build endpoints, and no more.
func TestKubeSourceWithAgentRBAC(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "agent", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			_, err = admin.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{})
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &b); err != nil {
				t.Fatal(err)
			}
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{})
		default:
			t.Fatalf("rbac.yaml: unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"shop", "posture-system"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{"team": "a"},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := testPod("shop", "web-1", "node-1", "", map[string]string{"app": "web"})
	pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "x"}}
	pod.Spec.ServiceAccountName = "web"
	// no controller manager here: create the service account it names
	if _, err := admin.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	created, err := admin.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.1.5", PodIPs: []corev1.PodIP{{IP: "10.0.1.5"}}}
	if _, err := admin.CoreV1().Pods("shop").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	sa := env.As("system:serviceaccount:posture-system:posture-agent",
		"system:serviceaccounts", "system:serviceaccounts:posture-system", "system:authenticated")
	agent, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	// least privilege: reading secrets or writing pods is refused
	if _, err := agent.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the agent's role can list secrets")
	}
	if err := agent.CoreV1().Pods("shop").Delete(ctx, "web-1", metav1.DeleteOptions{}); err == nil {
		t.Error("the agent's role can delete pods")
	}

	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	updates := make(chan []Endpoint, 1)
	done := make(chan error, 1)
	src := KubeSource{Client: agent, Node: "node-1", Debounce: 10 * time.Millisecond,
		InterfaceFor: func(netip.Addr) (string, error) { return "lxc-web", nil }}
	go func() { done <- src.Run(rctx, updates) }()
	// The authorizer learns new bindings through an informer: the first
	// snapshot may take a moment.
	select {
	case eps := <-updates:
		if len(eps) != 1 || eps[0].Pod != "web-1" || eps[0].Interface != "lxc-web" || eps[0].NamespaceLabels["team"] != "a" || eps[0].ServiceAccount != "web" {
			t.Fatalf("endpoints %+v", eps)
		}
	case err := <-done:
		t.Fatalf("source stopped: %v", err)
	case <-rctx.Done():
		t.Fatal("no snapshot as the agent's service account")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
