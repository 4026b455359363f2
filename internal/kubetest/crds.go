package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CiliumPolicyCRDs are the CRD files posture needs: the namespaced and the
// clusterwide network policy.
var CiliumPolicyCRDs = []string{"ciliumnetworkpolicies.yaml", "ciliumclusterwidenetworkpolicies.yaml"}

// InstallCRDs creates the named CRD files from the Cilium CRD directory
// (binDir/crds, written by hack/build-k8s.sh) and waits until each is
// established, so that the resources can be used right away.
func InstallCRDs(ctx context.Context, cfg *rest.Config, binDir string, files ...string) error {
	if binDir == "" {
		binDir = BinDir("")
	}
	if len(files) == 0 {
		files = CiliumPolicyCRDs
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range files {
		path := filepath.Join(binDir, "crds", f)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading crd: %w", err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		_, err = dc.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating crd %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	for _, n := range names {
		if err := waitEstablished(ctx, dc, n); err != nil {
			return err
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, dc dynamic.Interface, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := dc.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("crd %s not established after 30s (last error: %v)", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
