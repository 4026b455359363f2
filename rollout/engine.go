package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/flow"
)

var listOne = metav1.ListOptions{Limit: 1}

// Engine promotes and rolls back namespaces in one cluster.
type Engine struct {
	Client  dynamic.Interface
	Actor   string // who is recorded in the history
	Gates   GateConfig
	Compile Compiler // nil: DefaultCompiler
	// Now is the time the gates judge evidence at (default: Clock). Set
	// it to replay recorded evidence.
	Now func() time.Time
	// Clock stamps history, events and operation leases (default:
	// time.Now): transitions are recorded when they happen, whatever
	// time the evidence is judged at.
	Clock func() time.Time
	// Workers bounds parallel server-side applies (default 8).
	Workers int
	// Lease is how long an unfinished operation started by another
	// process is presumed still running (default 1 minute); after it, the
	// operation is treated as interrupted and can be completed or rolled
	// back by anyone.
	Lease time.Duration

	holder string
}

// NewEngine returns an engine with the default gates.
func NewEngine(c dynamic.Interface, actor string) *Engine {
	return &Engine{Client: c, Actor: actor, Gates: DefaultGates()}
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return e.clock()
}

func (e *Engine) clock() time.Time {
	if e.Clock != nil {
		return e.Clock().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) id() string {
	if e.holder == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		host, _ := os.Hostname()
		e.holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	return e.holder
}

// Request is a promote or rollback call.
type Request struct {
	Namespace string
	Plan      *NamespacePlan
	Step      Step
	// Evidence feeds the gates (promotions only).
	Evidence Evidence
	// Force overrides failing gates and hand-edit conflicts; Reason is
	// then required and recorded.
	Force  bool
	Reason string
}

// Result is what a promote or rollback did.
type Result struct {
	Namespace string
	From, To  Stage
	Target    Snapshot
	Gates     *GateReport
	Applied   []string
	Deleted   []string
	// Resumed is set when the call completed an earlier interrupted
	// operation instead of starting a new one.
	Resumed bool
	// Transitions recorded in the history.
	Transitions []Transition
}

// Preview computes what a promote (or rollback) would do without writing:
// the target snapshot, the gates (for promotions) and the desired sets.
func (e *Engine) Preview(ctx context.Context, req Request, rollback bool) (*State, Snapshot, *GateReport, error) {
	if err := req.Plan.Validate(); err != nil {
		return nil, Snapshot{}, nil, err
	}
	st, err := loadState(ctx, e.Client, req.Namespace)
	if err != nil {
		return nil, Snapshot{}, nil, err
	}
	var tgt Snapshot
	if rollback {
		tgt, err = PrevSnapshot(req.Plan, st.Snapshot, req.Step)
	} else {
		tgt, err = NextSnapshot(req.Plan, st.Snapshot, req.Step)
	}
	if err != nil {
		return st, Snapshot{}, nil, err
	}
	if rollback {
		return st, tgt, nil, nil
	}
	rep, err := e.gates(ctx, req, st.Snapshot, tgt)
	return st, tgt, rep, err
}

func (e *Engine) gates(ctx context.Context, req Request, cur, tgt Snapshot) (*GateReport, error) {
	var ev []flow.Edge
	if req.Evidence != nil {
		es, err := req.Evidence.Edges(ctx, req.Namespace)
		if err != nil {
			return nil, fmt.Errorf("reading evidence for %s: %w", req.Namespace, err)
		}
		ev = es
	}
	cjs, err := listCronJobs(ctx, e.Client, req.Namespace)
	if err != nil {
		return nil, err
	}
	return EvaluateGates(e.Gates, e.Compile, GateInput{
		Plan: req.Plan, Current: cur, Target: tgt, Edges: ev,
		CronJobs: cjs[req.Namespace], Now: e.now(),
	})
}

// Promote moves a namespace (or some of its workloads) one step, or to
// req.Step.To, when the gates pass (or req.Force with a reason), and
// applies the new policy set all-or-nothing. An interrupted earlier
// promotion is completed first.
func (e *Engine) Promote(ctx context.Context, req Request) (*Result, error) {
	return e.run(ctx, req, false)
}

// Rollback moves a namespace (or workloads) back one step or to
// req.Step.To, without gates. Turning enforcement off is a single apply
// per policy, so it takes effect at once.
func (e *Engine) Rollback(ctx context.Context, req Request) (*Result, error) {
	return e.run(ctx, req, true)
}

func (e *Engine) run(ctx context.Context, req Request, rollback bool) (*Result, error) {
	if req.Force && strings.TrimSpace(req.Reason) == "" {
		return nil, errors.New("--force needs --reason TEXT: overrides are recorded in the history")
	}
	if err := req.Plan.Validate(); err != nil {
		return nil, err
	}
	if req.Plan.Namespace != req.Namespace {
		return nil, fmt.Errorf("plan is for namespace %s, not %s", req.Plan.Namespace, req.Namespace)
	}
	st, err := loadState(ctx, e.Client, req.Namespace)
	if err != nil {
		return nil, err
	}
	now := e.clock()
	kind := "promote"
	if rollback {
		kind = "rollback"
	}
	// Preflight before writing any state: the CRD exists and we may use it.
	if err := e.preflight(ctx, req.Namespace); err != nil {
		return nil, err
	}

	if op := st.Operation; op != nil {
		lease := e.Lease
		if lease == 0 {
			lease = time.Minute
		}
		if op.Holder != e.id() && now.Sub(op.Started) < lease {
			return nil, &BusyError{Namespace: req.Namespace, Op: op}
		}
		if !rollback && op.Kind == "promote" && req.Step.To == nil && len(req.Step.Workloads) == 0 {
			return e.finish(ctx, st, req, op, true)
		}
		if !rollback {
			return nil, fmt.Errorf("%s has an interrupted %s to %s: run promote without --to/--workload to complete it, or rollback to revert it", req.Namespace, op.Kind, op.Target.Stage)
		}
		// A rollback starts from where the interrupted operation began
		// (or is going, for an interrupted rollback).
		if op.Kind == "promote" {
			st.Snapshot = op.Previous.Clone()
			if req.Step.To == nil && len(req.Step.Workloads) == 0 {
				// Plain rollback of an interrupted promotion: revert to
				// where it started (the recorded stage never changed).
				rop := &Operation{Kind: "rollback", Actor: e.Actor, Holder: e.id(), Started: now,
					Reason:   fmt.Sprintf("revert the interrupted promotion to %s", op.Target.Stage),
					Previous: op.Previous.Clone(), Target: op.Previous.Clone()}
				st.Operation = rop
				st.event(now, e.Actor, rop.Reason)
				if err := saveState(ctx, e.Client, st); err != nil {
					return nil, err
				}
				return e.finish(ctx, st, req, rop, false)
			}
		} else {
			st.Snapshot = op.Target.Clone()
			if req.Step.To == nil && len(req.Step.Workloads) == 0 {
				return e.finish(ctx, st, req, op, true)
			}
		}
	}

	var tgt Snapshot
	var rep *GateReport
	if rollback {
		tgt, err = PrevSnapshot(req.Plan, st.Snapshot, req.Step)
	} else {
		tgt, err = NextSnapshot(req.Plan, st.Snapshot, req.Step)
	}
	if err != nil {
		return nil, err
	}
	if !rollback {
		rep, err = e.gates(ctx, req, st.Snapshot, tgt)
		if err != nil {
			return nil, err
		}
		if !rep.Passing() && !req.Force {
			return &Result{Namespace: req.Namespace, From: st.Stage, To: tgt.Stage, Target: tgt, Gates: rep},
				&GateError{Namespace: req.Namespace, To: tgt.Stage, Report: rep}
		}
	}
	reason := req.Reason
	if reason == "" {
		reason = kind
		if rep != nil {
			reason = "gates passed"
		}
	}
	forced := req.Force
	switch {
	case forced && rep != nil && !rep.Passing():
		reason = "forced past " + strings.Join(rep.Failing(), ", ") + ": " + req.Reason
	case forced:
		reason = "forced (hand edits are overwritten): " + req.Reason
	}
	op := &Operation{
		Kind: kind, Actor: e.Actor, Holder: e.id(), Reason: reason, Forced: req.Force,
		Started: now, Target: tgt, Previous: st.Snapshot.Clone(),
	}
	st.Operation = op
	if err := saveState(ctx, e.Client, st); err != nil {
		return nil, err
	}
	res, err := e.finish(ctx, st, req, op, false)
	if res != nil {
		res.Gates = rep
	}
	return res, err
}

func (e *Engine) preflight(ctx context.Context, ns string) error {
	_, err := e.Client.Resource(CNPResource).Namespace(ns).List(ctx, listOne)
	if err != nil {
		return clusterError("checking ciliumnetworkpolicies in "+ns, err)
	}
	return nil
}

// finish applies op.Target and records the outcome. On failure a
// promotion is reverted to op.Previous; if that fails too the operation
// stays recorded as interrupted.
func (e *Engine) finish(ctx context.Context, st *State, req Request, op *Operation, resumed bool) (*Result, error) {
	res := &Result{Namespace: req.Namespace, From: op.Previous.Stage, To: op.Target.Stage, Target: op.Target, Resumed: resumed}
	out, err := applySet(ctx, e.Client, req.Namespace, Desired(req.Plan, op.Target), req.Force || op.Forced, e.Workers)
	res.Applied, res.Deleted = out.Applied, out.Deleted
	now := e.clock()
	if err == nil {
		if st.Stage != op.Target.Stage {
			st.StageSince = now
		}
		tgt := op.Target.Clone()
		for name, ws := range tgt.Workloads {
			if prev, ok := op.Previous.Workloads[name]; !ok || prev.Stage != ws.Stage || prev.Enforced != ws.Enforced {
				ws.Since = now
				tgt.Workloads[name] = ws
			}
		}
		res.Transitions = transitions(op.Previous, tgt, now, op.Actor, op.Reason, op.Forced)
		for _, t := range res.Transitions {
			st.record(t)
		}
		if resumed {
			st.event(now, e.Actor, fmt.Sprintf("completed the interrupted %s to %s started by %s", op.Kind, op.Target.Stage, op.Actor))
		}
		st.Snapshot = tgt
		st.Operation = nil
		if err := saveState(ctx, e.Client, st); err != nil {
			return res, &InterruptedError{Namespace: req.Namespace, Op: op, Err: fmt.Errorf("policies applied, but recording the new stage failed: %w", err)}
		}
		return res, nil
	}
	if !out.Changed {
		// Refused before anything was written (a hand edit, RBAC): the
		// namespace is untouched.
		st.Operation = nil
		st.event(now, e.Actor, fmt.Sprintf("%s to %s refused before any change: %v", op.Kind, op.Target.Stage, firstLine(err)))
		if serr := saveState(ctx, e.Client, st); serr != nil {
			return res, &InterruptedError{Namespace: req.Namespace, Op: op, Err: err}
		}
		return res, err
	}
	if op.Kind == "promote" {
		_, rerr := applySet(ctx, e.Client, req.Namespace, Desired(req.Plan, op.Previous), req.Force || op.Forced, e.Workers)
		if rerr == nil {
			st.Snapshot = op.Previous.Clone()
			st.Operation = nil
			st.event(now, e.Actor, fmt.Sprintf("promotion to %s failed and was reverted: %v", op.Target.Stage, firstLine(err)))
			if serr := saveState(ctx, e.Client, st); serr == nil {
				return res, &RevertedError{Namespace: req.Namespace, To: op.Target.Stage, Back: op.Previous.Stage, Err: err}
			}
		}
	}
	op.Error = firstLine(err)
	_ = saveState(ctx, e.Client, st) // best effort: the server may be gone
	return res, &InterruptedError{Namespace: req.Namespace, Op: op, Err: err}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
