package rollout

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Direction selects which side of a workload an enforce step flips.
type Direction string

// Directions accepted by --direction.
const (
	DirBoth    Direction = "both"
	DirIngress Direction = "ingress"
	DirEgress  Direction = "egress"
)

// ParseDirection reads --direction.
func ParseDirection(s string) (Direction, error) {
	switch Direction(s) {
	case "", DirBoth:
		return DirBoth, nil
	case DirIngress, DirEgress:
		return Direction(s), nil
	}
	return "", fmt.Errorf("unknown direction %q (want ingress, egress or both)", s)
}

func (d Direction) apply(e DirectionEnforced, on bool) DirectionEnforced {
	if d == DirBoth || d == DirIngress {
		e.Ingress = on
	}
	if d == DirBoth || d == DirEgress {
		e.Egress = on
	}
	return e
}

// Step asks for one promotion or rollback.
type Step struct {
	// To is the stage to move to; nil means the next (or, for rollback,
	// previous) one.
	To *Stage
	// Workloads restricts a step from narrow on to these workloads; empty
	// means all of the namespace's.
	Workloads []string
	Direction Direction
}

func (s Step) selected(p *NamespacePlan) ([]string, error) {
	if len(s.Workloads) == 0 {
		return p.WorkloadNames(), nil
	}
	for _, w := range s.Workloads {
		if _, ok := p.Workload(w); !ok {
			return nil, fmt.Errorf("workload %q is not in the plan for %s (known: %s)", w, p.Namespace, strings.Join(p.WorkloadNames(), ", "))
		}
	}
	return s.Workloads, nil
}

// begin is what a promotion and a rollback both start from: the stage now,
// the selected workloads, the direction (both unless given), and a copy of
// cur to change.
func (st Step) begin(p *NamespacePlan, cur Snapshot) (Stage, []string, Direction, Snapshot, error) {
	now := DeriveStage(cur, p.WorkloadNames(), p.hasL7)
	sel, err := st.selected(p)
	if err != nil {
		return 0, nil, "", Snapshot{}, err
	}
	dir := st.Direction
	if dir == "" {
		dir = DirBoth
	}
	next := cur.Clone()
	if next.Workloads == nil {
		next.Workloads = map[string]WorkloadState{}
	}
	return now, sel, dir, next, nil
}

// NextSnapshot computes where a promotion goes from cur.
func NextSnapshot(p *NamespacePlan, cur Snapshot, st Step) (Snapshot, error) {
	now, sel, dir, next, err := st.begin(p, cur)
	if err != nil {
		return Snapshot{}, err
	}
	if now == StageDone {
		return Snapshot{}, fmt.Errorf("%s is done: it runs exactly the target set; nothing left to promote", p.Namespace)
	}
	var to Stage
	switch {
	case st.To != nil:
		to = *st.To
	case len(st.Workloads) > 0:
		to = nextWorkloadStage(p, cur, sel)
	default:
		to = now + 1
		if to == StageL7 && !anyL7(p) {
			to = StageDone
		}
	}
	if len(st.Workloads) > 0 && to < StageNarrow {
		return Snapshot{}, fmt.Errorf("--workload applies from stage narrow on; %s is a namespace-wide stage", to)
	}
	if len(st.Workloads) > 0 && to == StageDone {
		return Snapshot{}, fmt.Errorf("removing the baseline (done) is namespace-wide; drop --workload")
	}
	if to > StageDone {
		return Snapshot{}, fmt.Errorf("%s is fully promoted", p.Namespace)
	}
	switch to {
	case StageObserve:
		return Snapshot{}, fmt.Errorf("observe is the starting stage; use rollback to return to it")
	case StageBaseline, StagePlatform:
		if to <= now {
			return Snapshot{}, fmt.Errorf("%s is already at %s; use rollback to go back", p.Namespace, now)
		}
		next.Stage = to
	case StageNarrow, StageEnforce, StageL7:
		next.Stage = max(next.Stage, StagePlatform)
		changed := false
		for _, w := range sel {
			ws, had := next.Workloads[w]
			nw := ws
			if !had {
				nw = WorkloadState{Stage: StageNarrow}
			}
			switch to {
			case StageEnforce:
				nw.Stage = max(nw.Stage, StageEnforce)
				nw.Enforced = dir.apply(nw.Enforced, true)
			case StageL7:
				nw.Enforced = DirectionEnforced{Ingress: true, Egress: true}
				nw.Stage = StageEnforce
				if p.hasL7(w) {
					nw.Stage = StageL7
				}
			}
			if !had || nw != ws {
				changed = true
				next.Workloads[w] = nw
			}
		}
		if !changed {
			return Snapshot{}, fmt.Errorf("%s is already at %s for %s; use rollback to go back", p.Namespace, to, describeSel(st.Workloads))
		}
	case StageDone:
		var notYet []string
		for _, w := range p.WorkloadNames() {
			ws := cur.Workloads[w]
			if !ws.Enforced.Ingress || !ws.Enforced.Egress {
				notYet = append(notYet, w)
			}
		}
		if len(notYet) > 0 {
			return Snapshot{}, fmt.Errorf("removing the baseline needs every workload enforced in both directions; not yet: %s", strings.Join(firstN(notYet, 8), ", "))
		}
		next.Stage = StageDone
	}
	if next.Stage != StageDone {
		next.Stage = DeriveStage(next, p.WorkloadNames(), p.hasL7)
	}
	return next, nil
}

// nextWorkloadStage is the next step for the selected workloads: the
// stage right after the least advanced of them.
func nextWorkloadStage(p *NamespacePlan, cur Snapshot, sel []string) Stage {
	least := StageL7
	for _, w := range sel {
		ws, ok := cur.Workloads[w]
		switch {
		case !ok:
			least = min(least, StagePlatform)
		case ws.Stage >= StageEnforce && !(ws.Enforced.Ingress && ws.Enforced.Egress):
			least = min(least, StageNarrow)
		default:
			least = min(least, ws.Stage)
		}
	}
	return least + 1
}

func anyL7(p *NamespacePlan) bool {
	for _, w := range p.Workloads {
		if len(w.L7) > 0 {
			return true
		}
	}
	return false
}

func describeSel(ws []string) string {
	if len(ws) == 0 {
		return "every workload"
	}
	return "workload " + strings.Join(ws, ", ")
}

// PrevSnapshot computes where a rollback goes from cur. Rollbacks never
// wait for gates: going back only loosens.
func PrevSnapshot(p *NamespacePlan, cur Snapshot, st Step) (Snapshot, error) {
	now, sel, dir, next, err := st.begin(p, cur)
	if err != nil {
		return Snapshot{}, err
	}
	var to Stage
	switch {
	case st.To != nil:
		to = *st.To
	case len(st.Workloads) > 0:
		to = StageNarrow // workloads step back one at a time below
	default:
		if now == StageObserve {
			return Snapshot{}, fmt.Errorf("%s is at observe: nothing to roll back", p.Namespace)
		}
		to = now - 1
		if to == StageL7 && !anyL7(p) {
			to = StageEnforce
		}
	}
	if to >= now && len(st.Workloads) == 0 && !(to == now && st.Direction != DirBoth && st.Direction != "") {
		return Snapshot{}, fmt.Errorf("%s is at %s; rollback goes to an earlier stage, not %s", p.Namespace, now, to)
	}
	if len(st.Workloads) > 0 && to < StagePlatform {
		return Snapshot{}, fmt.Errorf("--workload rolls back to platform at the earliest; %s is namespace-wide", to)
	}
	if cur.Stage == StageDone && to < StageDone {
		next.Stage = StagePlatform // the baseline comes back
	}
	switch to {
	case StageObserve, StageBaseline, StagePlatform:
		if len(st.Workloads) == 0 {
			next.Stage = to
			next.Workloads = nil
		} else {
			for _, w := range sel {
				delete(next.Workloads, w)
			}
		}
	case StageNarrow, StageEnforce, StageL7:
		for _, w := range sel {
			ws, ok := next.Workloads[w]
			if !ok {
				continue
			}
			if len(st.Workloads) > 0 && st.To == nil {
				// One step back for the named workloads.
				switch {
				case ws.Stage >= StageL7:
					ws.Stage = StageEnforce
				case ws.Enforced.Ingress || ws.Enforced.Egress:
					ws.Enforced = dir.apply(ws.Enforced, false)
					if !ws.Enforced.Ingress && !ws.Enforced.Egress {
						ws.Stage = StageNarrow
					}
				default:
					delete(next.Workloads, w)
					continue
				}
				next.Workloads[w] = ws
				continue
			}
			if ws.Stage > to {
				ws.Stage = to
			}
			if to == StageNarrow || (to == StageEnforce && st.Direction != "" && st.Direction != DirBoth) {
				ws.Enforced = dir.apply(ws.Enforced, false)
				if !ws.Enforced.Ingress && !ws.Enforced.Egress {
					ws.Stage = StageNarrow
				}
			}
			next.Workloads[w] = ws
		}
	case StageDone:
		return Snapshot{}, fmt.Errorf("done is the last stage; rollback goes back from it")
	}
	if next.Stage != StageDone {
		next.Stage = DeriveStage(next, p.WorkloadNames(), p.hasL7)
	}
	if snapshotsEqual(next, cur) {
		return Snapshot{}, fmt.Errorf("nothing to roll back for %s", describeSel(st.Workloads))
	}
	return next, nil
}

func snapshotsEqual(a, b Snapshot) bool {
	if a.Stage != b.Stage || len(a.Workloads) != len(b.Workloads) {
		return false
	}
	for k, v := range a.Workloads {
		w, ok := b.Workloads[k]
		if !ok || w.Stage != v.Stage || w.Enforced != v.Enforced {
			return false
		}
	}
	return true
}

// transitions lists the history entries for moving from a to b: one for
// the namespace when its stage changes and one per workload that changes.
func transitions(a, b Snapshot, now time.Time, actor, reason string, forced bool) []Transition {
	var out []Transition
	if a.Stage != b.Stage {
		out = append(out, Transition{Time: now, From: a.Stage, To: b.Stage, Actor: actor, Reason: reason, Forced: forced})
	}
	keys := slices.Sorted(maps.Keys(a.Workloads))
	for k := range b.Workloads {
		if _, ok := a.Workloads[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, w := range keys {
		x, okx := a.Workloads[w]
		y, oky := b.Workloads[w]
		if okx && oky && x.Stage == y.Stage && x.Enforced == y.Enforced {
			continue
		}
		from, to := StagePlatform, StagePlatform
		if okx {
			from = x.Stage
		}
		if oky {
			to = y.Stage
		}
		r := reason
		if oky && y.Enforced != x.Enforced {
			r = strings.TrimSpace(fmt.Sprintf("enforced: %s; %s", orNone(y.Enforced.String()), reason))
			r = strings.TrimSuffix(r, ";")
		}
		out = append(out, Transition{Time: now, From: from, To: to, Workload: w, Actor: actor, Reason: r, Forced: forced})
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
