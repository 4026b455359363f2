package rollout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/policy"
)

// Export computes a promotion or rollback like Promote and Rollback do
// (gates included, and refused the same way) but writes the result as a
// GitOps directory instead of applying it: DIR/<namespace>/ holds one file
// per policy of the new stage, the posture-rollout ConfigMap with the new
// state and history, and a kustomization.yaml listing them. Policies the
// step removes are simply absent; the GitOps tool's pruning deletes them.
func (e *Engine) Export(ctx context.Context, req Request, dir string, rollback bool) (*Result, []string, error) {
	if req.Force && strings.TrimSpace(req.Reason) == "" {
		return nil, nil, fmt.Errorf("--force needs --reason TEXT: overrides are recorded in the history")
	}
	st, tgt, rep, err := e.Preview(ctx, req, rollback)
	if err != nil {
		return nil, nil, err
	}
	res := &Result{Namespace: req.Namespace, From: st.Stage, To: tgt.Stage, Target: tgt, Gates: rep}
	if rep != nil && !rep.Passing() && !req.Force {
		return res, nil, &GateError{Namespace: req.Namespace, To: tgt.Stage, Report: rep}
	}
	now := e.clock()
	reason := req.Reason
	if reason == "" {
		reason = "exported for GitOps"
	}
	forced := req.Force && rep != nil && !rep.Passing()
	if forced {
		reason = "forced past " + strings.Join(rep.Failing(), ", ") + ": " + req.Reason
	}
	res.Transitions = transitions(st.Snapshot, tgt, now, e.Actor, reason, forced)
	for _, t := range res.Transitions {
		st.record(t)
	}
	if st.Stage != tgt.Stage {
		st.StageSince = now
	}
	st.Snapshot = tgt
	st.Operation = nil

	nsDir := filepath.Join(dir, req.Namespace)
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		return res, nil, fmt.Errorf("creating export directory: %w", err)
	}
	// Stale files from an earlier export of this namespace would be
	// applied again by the GitOps tool: clear posture's own files first.
	old, _ := filepath.Glob(filepath.Join(nsDir, "*.yaml"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return res, nil, fmt.Errorf("clearing old export: %w", err)
		}
	}
	var files []string
	for _, p := range Desired(req.Plan, tgt) {
		b, err := policy.Marshal([]*policy.Policy{p})
		if err != nil {
			return res, nil, fmt.Errorf("encoding %s: %w", p.Metadata.Name, err)
		}
		name := p.Metadata.Name + ".yaml"
		if err := os.WriteFile(filepath.Join(nsDir, name), b, 0o644); err != nil {
			return res, nil, fmt.Errorf("writing export: %w", err)
		}
		files = append(files, name)
	}
	data, err := encodeState(st)
	if err != nil {
		return res, nil, err
	}
	cm := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": StateConfigMap, "namespace": req.Namespace,
			"labels": map[string]any{LabelManagedBy: ManagedByValue}},
		"data": map[string]any{StateKey: data},
	}
	b, err := yaml.Marshal(cm)
	if err != nil {
		return res, nil, err
	}
	if err := os.WriteFile(filepath.Join(nsDir, StateConfigMap+".yaml"), b, 0o644); err != nil {
		return res, nil, fmt.Errorf("writing export: %w", err)
	}
	files = append(files, StateConfigMap+".yaml")
	slices.Sort(files)
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, f := range files {
		fmt.Fprintf(&k, "- %s\n", f)
	}
	if err := os.WriteFile(filepath.Join(nsDir, "kustomization.yaml"), []byte(k.String()), 0o644); err != nil {
		return res, nil, fmt.Errorf("writing export: %w", err)
	}
	var paths []string
	for _, f := range append(files, "kustomization.yaml") {
		paths = append(paths, filepath.Join(nsDir, f))
	}
	return res, paths, nil
}
