package kubetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// TestStartServesCiliumCRDs starts the real pair, installs Cilium's CRDs
// and checks that the CRD schema is enforced (an invalid policy is
// rejected) while a valid one is stored.
func TestStartServesCiliumCRDs(t *testing.T) {
	env := Start(t)
	dc, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cnp := schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnetworkpolicies"}
	ctx := context.Background()
	good := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
		"metadata": map[string]any{"name": "ok", "namespace": "default"},
		"spec": map[string]any{
			"endpointSelector": map[string]any{},
			"ingress":          []any{map[string]any{"fromEndpoints": []any{map[string]any{}}}},
		},
	}}
	if _, err := dc.Resource(cnp).Namespace("default").Create(ctx, good, metav1.CreateOptions{}); err != nil {
		t.Fatalf("valid CNP rejected: %v", err)
	}
	bad := good.DeepCopy()
	bad.SetName("bad")
	_ = unstructured.SetNestedField(bad.Object, "not-a-list", "spec", "ingress")
	_, err = dc.Resource(cnp).Namespace("default").Create(ctx, bad, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "ingress") {
		t.Fatalf("CNP with ingress as a string: want a schema error naming ingress, got %v", err)
	}
}

// TestRestartKeepsData stops kube-apiserver and starts it again on the
// same etcd: objects survive, as they must for the outage tests.
func TestRestartKeepsData(t *testing.T) {
	env := Start(t)
	dc, _ := dynamic.NewForConfig(env.Config)
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	ctx := context.Background()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "keep", "namespace": "default"},
		"data":     map[string]any{"k": "v"},
	}}
	if _, err := dc.Resource(cm).Namespace("default").Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.StopAPIServer()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := dc.Resource(cm).Namespace("default").Get(short, "keep", metav1.GetOptions{}); err == nil {
		t.Fatal("API server still answering after StopAPIServer")
	}
	if err := env.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := dc.Resource(cm).Namespace("default").Get(ctx, "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if v, _, _ := unstructured.NestedString(got.Object, "data", "k"); v != "v" {
		t.Fatalf("data after restart = %q", v)
	}
}

func TestBinDirFindsModuleRoot(t *testing.T) {
	t.Setenv("POSTURE_K8S_BINS", "")
	os.Unsetenv("POSTURE_K8S_BINS")
	d := BinDir("")
	if !strings.HasSuffix(d, "/.cache/k8s") || strings.Contains(d, "internal/kubetest") {
		t.Fatalf("BinDir = %s, want <module root>/.cache/k8s", d)
	}
}
