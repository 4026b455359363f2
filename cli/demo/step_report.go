package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/reports"
	"github.com/posture-dev/posture/rollout"
)

// stepReport prints the rollout report table and writes the HTML report.
// It reports the status the rollout step computed against the local API
// server; when that step could not run (no etcd/kube-apiserver binaries),
// it reports where a rollout would start: every namespace at observe, with
// the first promotion's gates, coverage and would-deny flows judged by the
// rollout engine on the demo's evidence and suggested policies.
func stepReport(ctx context.Context, e *env) error {
	var st *rollout.Status
	switch {
	case e.status != "":
		f, err := os.Open(e.status)
		if err != nil {
			return fmt.Errorf("reading rollout status: %w", err)
		}
		defer f.Close()
		if st, err = reports.ReadStatus(e.status, f); err != nil {
			return err
		}
		fmt.Fprintf(e.s.Out, "$ posture report --status %s\n", filepath.Base(e.status))
	case e.evidence != "" && e.policies != "":
		var err error
		if st, err = offClusterStatus(ctx, e.evidence, e.policies); err != nil {
			return err
		}
		fmt.Fprintln(e.s.Out, "(no rollout ran, so every namespace is at observe; its first promotion's gates are judged on the evidence)")
		fmt.Fprintf(e.s.Out, "$ posture report --flows %s --policies %s\n", filepath.Base(e.evidence), rel(e.dir, e.policies))
	default:
		fmt.Fprintln(e.s.Out, "(no rollout status or evidence from the earlier steps; nothing to report)")
		return nil
	}

	width, color := cmdutil.Terminal(e.s.Out)
	if width == 0 {
		width = 120 // a log or a pipe: wide enough for the rule changes
	}
	r, err := reports.Build(st, reports.Options{Width: width, Color: color, HistoryLimit: 8})
	if err != nil {
		return err
	}
	if err := reports.WriteTable(e.s.Out, r); err != nil {
		return err
	}

	// The HTML page is for forwarding, so it carries every workload.
	full, err := reports.Build(st, reports.Options{Workloads: true})
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := reports.WriteHTML(&page, full); err != nil {
		return err
	}
	path := filepath.Join(e.dir, "report.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the html report: %w", err)
	}
	var md bytes.Buffer
	if err := reports.WriteMarkdown(&md, full); err != nil {
		return err
	}
	mdPath := filepath.Join(e.dir, "report.md")
	if err := os.WriteFile(mdPath, md.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the markdown report: %w", err)
	}
	fmt.Fprintf(e.s.Out, "\nHTML report (self-contained, charts inline): %s\n", path)
	fmt.Fprintf(e.s.Out, "Markdown for a change ticket: %s\n", mdPath)
	return nil
}

// offClusterStatus is the status of a rollout that has not started: each
// namespace of the target set at observe, with the gates of its first
// promotion evaluated by the rollout engine on the evidence. CronJobs are
// known only to a cluster, so that gate is left out rather than passed.
func offClusterStatus(ctx context.Context, evidencePath, policiesPath string) (*rollout.Status, error) {
	edges, _, err := evidence.LoadEdges(ctx, evidencePath, nil)
	if err != nil {
		return nil, fmt.Errorf("reading evidence: %w", err)
	}
	ps, err := policy.LoadPath(policiesPath)
	if err != nil {
		return nil, fmt.Errorf("loading the suggested policies: %w", err)
	}
	plans, err := rollout.PlansFromTarget(ps)
	if err != nil {
		return nil, err
	}
	var first, last time.Time
	for _, ed := range edges {
		if first.IsZero() || ed.FirstSeen.Before(first) {
			first = ed.FirstSeen
		}
		if ed.LastSeen.After(last) {
			last = ed.LastSeen
		}
	}
	gates := rollout.DefaultGates()
	gates.CronJobs = false
	ev := rollout.NewEdgeEvidence(edges)
	st := &rollout.Status{GeneratedAt: last}
	names := make([]string, 0, len(plans))
	for ns := range plans {
		names = append(names, ns)
	}
	slices.Sort(names)
	for _, name := range names {
		plan := plans[name]
		nsEdges, err := ev.Edges(ctx, name)
		if err != nil {
			return nil, err
		}
		// The next promotion's gates decide when the namespace moves;
		// coverage and would-deny are of the whole target set, the one
		// that will be enforced in the end.
		next, err := rollout.NextSnapshot(plan, rollout.Snapshot{}, rollout.Step{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rep, err := rollout.EvaluateGates(gates, nil, rollout.GateInput{Plan: plan, Target: next, Edges: nsEdges, Now: last})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		final := next
		for final.Stage < rollout.StageDone {
			if final, err = rollout.NextSnapshot(plan, final, rollout.Step{}); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		end, err := rollout.EvaluateGates(gates, nil, rollout.GateInput{Plan: plan, Target: final, Edges: nsEdges, Now: last})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		nextStage := next.Stage
		ns := rollout.NamespaceStatus{
			Namespace: name, Stage: rollout.StageObserve, StageSince: first, NextStage: &nextStage,
			Gates: rep.Gates, ETA: rep.ETA, Coverage: end.Coverage, TopDenied: end.TopDenied,
			WouldDeny24: end.WouldDenyWindow, WouldDeny7d: end.WouldDenyObservation,
			Samples: []rollout.Sample{{Time: last, Coverage: end.Coverage, WouldDeny: end.WouldDenyWindow}},
		}
		for _, g := range rep.Gates {
			if !g.Passing {
				ns.Blockers = append(ns.Blockers, fmt.Sprintf("%s: %s (threshold %s)", g.Name, g.Value, g.Threshold))
			}
		}
		for _, w := range plan.WorkloadNames() {
			ws := rollout.WorkloadStatus{Name: w, Stage: rollout.StageObserve, StageSince: first, Coverage: 1}
			if we, ok := end.PerWorkload[w]; ok {
				ws.Coverage, ws.WouldDenyIngress, ws.WouldDenyEgress = we.Coverage, we.WouldDenyIngress, we.WouldDenyEgress
				ws.WouldDeny = we.WouldDenyIngress + we.WouldDenyEgress
			}
			ns.Workloads = append(ns.Workloads, ws)
		}
		st.Namespaces = append(st.Namespaces, ns)
	}
	return st, nil
}

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}
