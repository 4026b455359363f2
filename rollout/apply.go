package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/policy"
)

// ConflictError reports objects someone else changed by hand: server-side
// apply refuses to take fields another manager owns, and posture does not
// delete objects others edited, unless forced.
type ConflictError struct {
	Namespace string
	Objects   []ObjectConflict
}

// ObjectConflict is one object's conflict.
type ObjectConflict struct {
	Name   string
	Detail string // the server's list of conflicting fields and managers
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d object(s) in %s were changed outside posture:", len(e.Objects), e.Namespace)
	for _, o := range e.Objects {
		fmt.Fprintf(&b, "\n  ciliumnetworkpolicy/%s: %s", o.Name, o.Detail)
	}
	b.WriteString("\nreview the hand edits (fold them into the proposal), or re-run with --force --reason TEXT to overwrite them")
	return b.String()
}

// applyOutcome says what applying a set did.
type applyOutcome struct {
	Applied []string
	Deleted []string
	// Changed is false when the set was refused before any write.
	Changed bool
}

// toUnstructured converts a policy for the dynamic client.
func toUnstructured(p *policy.Policy) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding policy %s: %w", p.Metadata.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// applySet makes the namespace's posture-owned policies exactly desired.
// Checks come first, so that hand edits and schema errors stop the change
// before anything is written: every policy is validated against Cilium's
// schema (policy.Validate), objects to delete must not carry others'
// edits, and objects other managers also own get a server-side dry run of
// their apply (only those can conflict; skipping the rest halves the
// requests). Then every desired object is applied (in parallel) and owned
// objects no longer desired are deleted: applying before deleting keeps
// the set at least as permissive as either end while it changes.
func applySet(ctx context.Context, c dynamic.Interface, ns string, desired []*policy.Policy, force bool, workers int) (applyOutcome, error) {
	var out applyOutcome
	res := c.Resource(CNPResource).Namespace(ns)
	existing, err := res.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue})
	if err != nil {
		return out, clusterError("listing ciliumnetworkpolicies in "+ns, err)
	}
	objs := make([]*unstructured.Unstructured, len(desired))
	want := map[string]bool{}
	for i, p := range desired {
		if err := policy.Validate(p); err != nil {
			return out, fmt.Errorf("policy %s/%s is not valid for Cilium: %w", ns, p.Metadata.Name, err)
		}
		if objs[i], err = toUnstructured(p); err != nil {
			return out, err
		}
		want[p.Metadata.Name] = true
	}
	shared := map[string]bool{} // existing objects someone else also manages
	for _, u := range existing.Items {
		for _, mf := range u.GetManagedFields() {
			if mf.Manager != FieldManager && mf.Subresource == "" {
				shared[u.GetName()] = true
			}
		}
	}
	conflicts := &ConflictError{Namespace: ns}
	var stale []unstructured.Unstructured
	for _, u := range existing.Items {
		if want[u.GetName()] {
			continue
		}
		if who := foreignSpecManagers(&u); len(who) > 0 && !force {
			conflicts.Objects = append(conflicts.Objects, ObjectConflict{Name: u.GetName(),
				Detail: "to be removed, but its spec was also changed by " + strings.Join(who, ", ")})
			continue
		}
		stale = append(stale, u)
	}

	for _, dry := range []bool{true, false} {
		opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: force}
		if dry {
			if force {
				continue // forcing takes every field: nothing to find out
			}
			opts.DryRun = []string{metav1.DryRunAll}
		}
		var applied atomic.Int64
		errs := parallel(ctx, workers, len(objs), func(i int) error {
			if dry && !shared[objs[i].GetName()] {
				return nil
			}
			_, err := res.Apply(ctx, objs[i].GetName(), objs[i], opts)
			if err == nil && !dry {
				applied.Add(1)
			}
			return err
		})
		if applied.Load() > 0 {
			out.Changed = true
		}
		var firstErr error
		for i, err := range errs {
			name := desired[i].Metadata.Name
			switch {
			case err == nil:
				if !dry {
					out.Applied = append(out.Applied, name)
				}
			case apierrors.IsConflict(err):
				conflicts.Objects = append(conflicts.Objects, ObjectConflict{Name: name, Detail: conflictDetail(err)})
			case firstErr == nil:
				firstErr = clusterError("applying ciliumnetworkpolicy "+ns+"/"+name, err)
			}
		}
		if firstErr != nil {
			return out, firstErr
		}
		if len(conflicts.Objects) > 0 {
			return out, conflicts
		}
	}

	for _, u := range stale {
		rv := u.GetResourceVersion()
		err := res.Delete(ctx, u.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		switch {
		case err == nil || apierrors.IsNotFound(err):
			out.Changed = true
			out.Deleted = append(out.Deleted, u.GetName())
		case apierrors.IsConflict(err):
			conflicts.Objects = append(conflicts.Objects, ObjectConflict{Name: u.GetName(), Detail: "changed while being removed"})
		default:
			return out, clusterError("deleting ciliumnetworkpolicy "+ns+"/"+u.GetName(), err)
		}
	}
	if len(conflicts.Objects) > 0 {
		return out, conflicts
	}
	return out, nil
}

// parallel runs fn for 0..n-1 on up to workers goroutines and returns
// each call's error.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) []error {
	if workers < 1 {
		workers = 8
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = fn(i)
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// foreignSpecManagers lists field managers other than posture that own
// fields under spec.
func foreignSpecManagers(u *unstructured.Unstructured) []string {
	var who []string
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == FieldManager || mf.FieldsV1 == nil {
			continue
		}
		if strings.Contains(string(mf.FieldsV1.Raw), `"f:spec"`) || strings.Contains(string(mf.FieldsV1.Raw), `"f:specs"`) {
			who = append(who, fmt.Sprintf("%s (%s)", mf.Manager, strings.ToLower(string(mf.Operation))))
		}
	}
	slices.Sort(who)
	return slices.Compact(who)
}

func conflictDetail(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		if d := se.Status().Details; d != nil && len(d.Causes) > 0 {
			var parts []string
			for _, c := range d.Causes {
				parts = append(parts, strings.TrimSpace(c.Message+" "+c.Field))
			}
			return strings.Join(parts, "; ")
		}
	}
	return err.Error()
}
