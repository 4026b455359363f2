package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Resources the rollout reads and writes.
var (
	CNPResource       = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnetworkpolicies"}
	ConfigMapResource = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	CronJobResource   = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
)

// ErrConcurrent is returned when another promoter changed a namespace's
// rollout state between our read and our write.
var ErrConcurrent = errors.New("the rollout state changed concurrently (another promoter?); re-run to act on the new state")

// loadState reads a namespace's record; a namespace never promoted is at
// observe with an empty resource version (first write creates it).
func loadState(ctx context.Context, c dynamic.Interface, ns string) (*State, error) {
	u, err := c.Resource(ConfigMapResource).Namespace(ns).Get(ctx, StateConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &State{Namespace: ns, Snapshot: Snapshot{Stage: StageObserve}}, nil
	}
	if err != nil {
		return nil, clusterError(fmt.Sprintf("reading configmap %s/%s", ns, StateConfigMap), err)
	}
	return stateFromConfigMap(u)
}

func stateFromConfigMap(u *unstructured.Unstructured) (*State, error) {
	data, _, _ := unstructured.NestedString(u.Object, "data", StateKey)
	if data == "" {
		return nil, fmt.Errorf("configmap %s/%s has no %s key", u.GetNamespace(), StateConfigMap, StateKey)
	}
	s, err := decodeState(u.GetNamespace(), data)
	if err != nil {
		return nil, err
	}
	s.ResourceVersion = u.GetResourceVersion()
	return s, nil
}

// saveState writes the record with optimistic concurrency: create when it
// did not exist, update at the resource version it was read at otherwise.
// On success s.ResourceVersion is the new version.
func saveState(ctx context.Context, c dynamic.Interface, s *State) error {
	data, err := encodeState(s)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      StateConfigMap,
			"namespace": s.Namespace,
			"labels":    map[string]any{LabelManagedBy: ManagedByValue},
			"annotations": map[string]any{
				"posture.dev/stage": s.Stage.String(),
			},
		},
		"data": map[string]any{StateKey: data},
	}}
	cms := c.Resource(ConfigMapResource).Namespace(s.Namespace)
	var out *unstructured.Unstructured
	if s.ResourceVersion == "" {
		out, err = cms.Create(ctx, u, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return ErrConcurrent
		}
	} else {
		u.SetResourceVersion(s.ResourceVersion)
		out, err = cms.Update(ctx, u, metav1.UpdateOptions{FieldManager: FieldManager})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return ErrConcurrent
		}
	}
	if err != nil {
		return clusterError(fmt.Sprintf("writing configmap %s/%s", s.Namespace, StateConfigMap), err)
	}
	s.ResourceVersion = out.GetResourceVersion()
	return nil
}

// listStates reads every namespace's record in one call (for status of
// many namespaces).
func listStates(ctx context.Context, c dynamic.Interface) ([]*State, error) {
	l, err := c.Resource(ConfigMapResource).List(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + StateConfigMap,
		LabelSelector: LabelManagedBy + "=" + ManagedByValue,
	})
	if err != nil {
		return nil, clusterError("listing rollout state configmaps", err)
	}
	out := make([]*State, 0, len(l.Items))
	for i := range l.Items {
		s, err := stateFromConfigMap(&l.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// listCronJobs returns the CronJobs of namespace ns, or of every namespace
// keyed by namespace when ns is empty.
func listCronJobs(ctx context.Context, c dynamic.Interface, ns string) (map[string][]CronJob, error) {
	l, err := c.Resource(CronJobResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, clusterError("listing cronjobs", err)
	}
	out := map[string][]CronJob{}
	for _, u := range l.Items {
		cj := CronJob{Name: u.GetName()}
		cj.Suspended, _, _ = unstructured.NestedBool(u.Object, "spec", "suspend")
		if s, ok, _ := unstructured.NestedString(u.Object, "status", "lastScheduleTime"); ok && s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return nil, fmt.Errorf("cronjob %s/%s: status.lastScheduleTime %q: %w", u.GetNamespace(), u.GetName(), s, err)
			}
			cj.LastSchedule = &t
		}
		out[u.GetNamespace()] = append(out[u.GetNamespace()], cj)
	}
	return out, nil
}

// clusterError turns API errors into messages that say what to do.
func clusterError(what string, err error) error {
	var ue *url.Error
	var ne net.Error
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden by RBAC (%v); the rollout needs get/list/create/update on configmaps, get/list on cronjobs and get/list/patch/delete on ciliumnetworkpolicies in the namespace (see deploy/rollout/rbac.yaml, ClusterRole posture-rollout-promoter)", what, err)
	case isMissingCRD(err):
		return fmt.Errorf("%s: the CiliumNetworkPolicy resource (cilium.io/v2) is not served by this cluster: install Cilium (or its CRDs) first: %w", what, err)
	// A server that dies mid-response surfaces from client-go as a wrapped
	// io.ErrUnexpectedEOF, not as a url.Error.
	case errors.As(err, &ue), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("%s: cannot reach the API server (check --kubeconfig and --context): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isMissingCRD recognises the 404 the server answers for an unknown
// resource type (as opposed to a missing object, which has details).
func isMissingCRD(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) || !apierrors.IsNotFound(err) {
		return false
	}
	d := se.Status().Details
	return d == nil || d.Name == ""
}
