package report

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/internal/kubetest"
	"github.com/posture-dev/posture/synth"
)

// TestReportComputesFromCluster runs posture report against a real
// kube-apiserver: without --status it asks the rollout engine for the
// status of the cluster the kubeconfig names, judged on the evidence.
func TestReportComputesFromCluster(t *testing.T) {
	env := kubetest.Start(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.Kubeconfig(kubeconfig, "test"); err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop"}}}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	flows := synth.Shop(1)
	evidencePath := filepath.Join(t.TempDir(), "evidence.jsonl")
	if err := synth.WriteFlowsFile(evidencePath, flows); err != nil {
		t.Fatal(err)
	}
	last := synth.Last(flows)

	out, errs, err := execute(t, "--kubeconfig", kubeconfig, "--flows", evidencePath, "-n", "shop", "--now", last.UTC().Format(time.RFC3339), "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	var doc struct {
		GeneratedAt time.Time `json:"generatedAt"`
		Namespaces  []struct {
			Namespace string  `json:"namespace"`
			Stage     string  `json:"stage"`
			Coverage  float64 `json:"coverage"`
			Gates     []struct {
				Name string `json:"name"`
			} `json:"gates"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Namespaces) != 1 || doc.Namespaces[0].Namespace != "shop" || doc.Namespaces[0].Stage != "observe" {
		t.Fatalf("report = %s", out)
	}
	if len(doc.Namespaces[0].Gates) == 0 {
		t.Errorf("no gates judged for shop's first promotion: %s", out)
	}
	if !doc.GeneratedAt.Equal(last.UTC().Truncate(time.Second)) {
		t.Errorf("generatedAt %v, want --now %v", doc.GeneratedAt, last)
	}
}
