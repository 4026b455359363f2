package rollout

import (
	"fmt"
	"strings"
	"time"
)

// GateError is a promotion refused by its gates.
type GateError struct {
	Namespace string
	To        Stage
	Report    *GateReport
}

func (e *GateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "promotion of %s to %s refused: gate(s) failing: %s", e.Namespace, e.To, strings.Join(e.Report.Failing(), ", "))
	for _, g := range e.Report.Gates {
		if !g.Passing {
			fmt.Fprintf(&b, "\n  %s: %s (threshold %s)", g.Name, g.Value, g.Threshold)
			if g.Detail != "" {
				fmt.Fprintf(&b, " — %s", g.Detail)
			}
		}
	}
	if len(e.Report.TopDenied) > 0 {
		b.WriteString("\n  top would-deny flows:")
		for _, d := range e.Report.TopDenied {
			fmt.Fprintf(&b, "\n    %s → %s %s (%s, %d flows, last %s)", d.Source, d.Destination, d.Port, d.Direction, d.Count, d.LastSeen.UTC().Format(time.RFC3339))
		}
	}
	if e.Report.ETA != nil {
		fmt.Fprintf(&b, "\n  gates would pass at %s if nothing else changes", e.Report.ETA.UTC().Format(time.RFC3339))
	}
	b.WriteString("\n  (--force --reason TEXT overrides, and is recorded)")
	return b.String()
}

// BusyError is returned while another process's operation is running.
type BusyError struct {
	Namespace string
	Op        *Operation
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s: a %s to %s by %s started at %s is still in progress; wait for it (or, if that process died, retry after its lease expires)",
		e.Namespace, e.Op.Kind, e.Op.Target.Stage, e.Op.Actor, e.Op.Started.Format(time.RFC3339))
}

// InterruptedError is returned when applying failed and could not be
// reverted either: the namespace is between two stages, and status says
// so until a later promote completes it or a rollback reverts it.
type InterruptedError struct {
	Namespace string
	Op        *Operation
	Err       error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%s to %s of %s interrupted: %v\nthe namespace may be partly changed; `posture rollout %s -n %s` completes it, `posture rollout rollback -n %s` reverts it",
		e.Op.Kind, e.Op.Target.Stage, e.Namespace, e.Err, e.Op.Kind, e.Namespace, e.Namespace)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// RevertedError is a promotion that failed while applying and was rolled
// back to where it started.
type RevertedError struct {
	Namespace string
	To, Back  Stage
	Err       error
}

func (e *RevertedError) Error() string {
	return fmt.Sprintf("promotion of %s to %s failed and was reverted (the namespace is back at %s): %v", e.Namespace, e.To, e.Back, e.Err)
}

func (e *RevertedError) Unwrap() error { return e.Err }
