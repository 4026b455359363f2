package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/flow"
)

// PlanSource returns the plan for a namespace, or nil when there is none
// (status then shows the stored stage and history without gates).
type PlanSource func(namespace string) (*NamespacePlan, error)

// StatusOptions say which namespaces to report and what the gates see.
type StatusOptions struct {
	// Namespaces to report; empty means every namespace with rollout
	// state plus every namespace the evidence or plans know.
	Namespaces []string
	Evidence   Evidence   // may be nil
	Plans      PlanSource // may be nil
	Gates      GateConfig // zero value: DefaultGates
	Compile    Compiler   // nil: DefaultCompiler
	Now        time.Time  // zero: time.Now
	// PlanNamespaces lists namespaces the plans cover, for discovery.
	PlanNamespaces []string
	// Lease is how long an unfinished operation counts as running rather
	// than interrupted (default 1 minute, as Engine.Lease); judged on the
	// wall clock.
	Lease time.Duration
}

// ComputeStatus reads the rollout state of namespaces from the cluster
// (the posture-rollout ConfigMaps and the CronJobs) and, where a plan is
// known, evaluates the gates of each namespace's next promotion against
// the evidence. It is what `posture rollout status` prints and what
// `posture report` renders; it only reads.
func ComputeStatus(ctx context.Context, c dynamic.Interface, opts StatusOptions) (*Status, error) {
	if opts.Gates == (GateConfig{}) {
		opts.Gates = DefaultGates()
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	states := map[string]*State{}
	var cron map[string][]CronJob
	if len(opts.Namespaces) == 0 || len(opts.Namespaces) > 8 {
		all, err := listStates(ctx, c)
		if err != nil && !(isForbidden(err) && len(opts.Namespaces) > 0) {
			return nil, err
		}
		for _, s := range all {
			states[s.Namespace] = s
		}
		cron, err = listCronJobs(ctx, c, "")
		if err != nil && !isForbidden(err) {
			return nil, err
		}
	}
	nss := opts.Namespaces
	if len(nss) == 0 {
		seen := map[string]bool{}
		for ns := range states {
			seen[ns] = true
		}
		if lister, ok := opts.Evidence.(interface{ Namespaces() []string }); ok && opts.Evidence != nil {
			for _, ns := range lister.Namespaces() {
				seen[ns] = true
			}
		}
		for _, ns := range opts.PlanNamespaces {
			seen[ns] = true
		}
		for ns := range seen {
			nss = append(nss, ns)
		}
	}
	slices.Sort(nss)
	out := &Status{GeneratedAt: now}
	for _, ns := range nss {
		st, ok := states[ns]
		if !ok {
			var err error
			if st, err = loadState(ctx, c, ns); err != nil {
				return nil, err
			}
		}
		cjs := cron[ns]
		if cron == nil {
			m, err := listCronJobs(ctx, c, ns)
			if err != nil {
				return nil, err
			}
			cjs = m[ns]
		}
		nsStatus, err := namespaceStatus(ctx, st, cjs, opts, now)
		if err != nil {
			return nil, err
		}
		out.Namespaces = append(out.Namespaces, *nsStatus)
	}
	return out, nil
}

func isForbidden(err error) bool {
	for e := err; e != nil; {
		if apierrors.IsForbidden(e) {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func namespaceStatus(ctx context.Context, st *State, cjs []CronJob, opts StatusOptions, now time.Time) (*NamespaceStatus, error) {
	ns := &NamespaceStatus{
		Namespace:  st.Namespace,
		Stage:      st.Stage,
		StageSince: st.StageSince,
		History:    st.History,
		Events:     st.Events,
	}
	if op := st.Operation; op != nil {
		opst := &OperationStatus{Kind: op.Kind, State: "running", From: op.Previous.Stage, To: op.Target.Stage,
			Actor: op.Actor, Started: op.Started, Error: op.Error}
		lease := opts.Lease
		if lease == 0 {
			lease = time.Minute
		}
		if op.Error != "" || time.Since(op.Started) > lease {
			opst.State = "interrupted"
			opst.Hint = fmt.Sprintf("`posture rollout %s -n %s` completes it; `posture rollout rollback -n %s` reverts it", op.Kind, st.Namespace, st.Namespace)
		} else {
			opst.Hint = "in progress"
		}
		ns.Operation = opst
		ns.Blockers = append(ns.Blockers, fmt.Sprintf("%s %s to %s (%s)", opst.State, op.Kind, op.Target.Stage, opst.Hint))
	}
	var plan *NamespacePlan
	if opts.Plans != nil {
		p, err := opts.Plans(st.Namespace)
		if err != nil {
			return nil, fmt.Errorf("plan for %s: %w", st.Namespace, err)
		}
		plan = p
	}
	if plan == nil {
		for name, ws := range st.Workloads {
			ns.Workloads = append(ns.Workloads, WorkloadStatus{Name: name, Stage: ws.Stage, Enforced: ws.Enforced, StageSince: ws.Since})
		}
		slices.SortFunc(ns.Workloads, func(a, b WorkloadStatus) int { return compareStrings(a.Name, b.Name) })
		if len(ns.Blockers) == 0 {
			ns.Blockers = append(ns.Blockers, "no proposal for this namespace (pass --flows or --policies to evaluate the gates)")
		}
		return ns, nil
	}
	ns.Stage = DeriveStage(st.Snapshot, plan.WorkloadNames(), plan.hasL7)
	var edges []flow.Edge
	if opts.Evidence != nil {
		es, err := opts.Evidence.Edges(ctx, st.Namespace)
		if err != nil {
			return nil, fmt.Errorf("evidence for %s: %w", st.Namespace, err)
		}
		edges = es
	}
	target := st.Snapshot
	if next, err := NextSnapshot(plan, st.Snapshot, Step{}); err == nil {
		target = next
		n := DeriveStage(next, plan.WorkloadNames(), plan.hasL7)
		if next.Stage == StageDone {
			n = StageDone
		}
		ns.NextStage = &n
	}
	rep, err := EvaluateGates(opts.Gates, opts.Compile, GateInput{
		Plan: plan, Current: st.Snapshot, Target: target, Edges: edges, CronJobs: cjs, Now: now,
	})
	if err != nil {
		return nil, err
	}
	if ns.NextStage != nil {
		ns.Gates = rep.Gates
		ns.ETA = rep.ETA
		for _, g := range rep.Gates {
			if !g.Passing {
				b := fmt.Sprintf("%s: %s (threshold %s)", g.Name, g.Value, g.Threshold)
				if g.Detail != "" {
					b += " — " + g.Detail
				}
				ns.Blockers = append(ns.Blockers, b)
			}
		}
	}
	ns.Coverage = rep.Coverage
	ns.WouldDeny24 = rep.WouldDenyWindow
	ns.WouldDeny7d = rep.WouldDenyObservation
	ns.TopDenied = rep.TopDenied
	for _, w := range plan.Workloads {
		ws, ok := st.Workloads[w.Name]
		wst := WorkloadStatus{Name: w.Name, Stage: StagePlatform, Coverage: 1}
		if ns.Stage < StagePlatform {
			wst.Stage = ns.Stage
		}
		if ok {
			wst.Stage, wst.Enforced, wst.StageSince = ws.Stage, ws.Enforced, ws.Since
		}
		if ev, ok := rep.PerWorkload[w.Name]; ok {
			wst.Coverage = ev.Coverage
			wst.WouldDenyIngress, wst.WouldDenyEgress = ev.WouldDenyIngress, ev.WouldDenyEgress
			wst.WouldDeny = ev.WouldDenyIngress + ev.WouldDenyEgress
		}
		ns.Workloads = append(ns.Workloads, wst)
	}
	ns.Samples = rep.Samples
	return ns, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
