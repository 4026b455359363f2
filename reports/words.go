package reports

import (
	"fmt"
	"strings"
	"time"
)

// The sentences below are shared by the table, Markdown and HTML formats so
// that every format tells the same story in the same words.

// nextText says what happens next to a namespace, in one line.
func (nr *NamespaceReport) nextText() string {
	p := nr.Next
	switch p.State {
	case PromotionComplete:
		return "complete"
	case PromotionReady:
		return "ready → " + p.Stage
	case PromotionWaiting:
		return fmt.Sprintf("→ %s in %s (%s)", p.Stage, fmtSeconds(*p.InSeconds), fmtShortTime(*p.ETA))
	default:
		return "blocked: " + nr.firstBlocker()
	}
}

// stateWord is the one-word status of a namespace's next promotion.
func stateWord(state string) string {
	if state == PromotionWaiting {
		return "on track"
	}
	return state
}

// nextShort is nextText without the status word, for tables that show the
// status in its own column.
func (nr *NamespaceReport) nextShort() string {
	p := nr.Next
	switch p.State {
	case PromotionComplete:
		return "—"
	case PromotionReady:
		return "→ " + p.Stage + " now"
	case PromotionWaiting:
		return fmt.Sprintf("→ %s in %s (%s)", p.Stage, fmtSeconds(*p.InSeconds), fmtShortTime(*p.ETA))
	default:
		return nr.firstBlocker()
	}
}

// firstBlocker names what holds a namespace back: the rollout's own words
// when it gave them, else the first failing gate.
func (nr *NamespaceReport) firstBlocker() string {
	if len(nr.Next.Blockers) > 0 {
		b := nr.Next.Blockers[0]
		if n := len(nr.Next.Blockers); n > 1 {
			b += fmt.Sprintf(" (+%d more)", n-1)
		}
		return b
	}
	for _, g := range nr.Gates {
		if !g.Passing {
			return fmt.Sprintf("gate %s is %s (needs %s)", g.Name, g.Value, g.Threshold)
		}
	}
	return "no gate reported"
}

// blockers lists every reason the namespace cannot move, for detail views.
func (nr *NamespaceReport) blockers() []string {
	if len(nr.Next.Blockers) > 0 {
		return nr.Next.Blockers
	}
	var out []string
	for _, g := range nr.Gates {
		if !g.Passing {
			out = append(out, fmt.Sprintf("gate %s is %s (needs %s)", g.Name, g.Value, g.Threshold))
		}
	}
	return out
}

// headline is the namespace section's first sentence.
func (nr *NamespaceReport) headline() string {
	return fmt.Sprintf("stage %s for %s (since %s)", nr.Stage, fmtSeconds(nr.TimeInStageSeconds), fmtTime(nr.StageSince))
}

// nextLine is the namespace section's promotion sentence.
func (nr *NamespaceReport) nextLine() string {
	p := nr.Next
	switch p.State {
	case PromotionComplete:
		return "Rollout complete: the namespace runs its target policy set."
	case PromotionReady:
		return fmt.Sprintf("Ready: every gate passes; %s → %s can be promoted now.", nr.Stage, p.Stage)
	case PromotionWaiting:
		return fmt.Sprintf("On track: %s → %s in %s (%s) if the gates keep passing.", nr.Stage, p.Stage, fmtSeconds(*p.InSeconds), fmtShortTime(*p.ETA))
	default:
		return fmt.Sprintf("Blocked: %s → %s waits on %d issue(s).", nr.Stage, p.Stage, len(nr.blockers()))
	}
}

func gateWord(pass bool) string {
	if pass {
		return "pass"
	}
	return "FAIL"
}

func enforcedWord(on bool) string {
	if on {
		return "enforced"
	}
	return "audit"
}

func transitionText(t Transition) string {
	s := t.From + " → " + t.To
	if t.Forced {
		s += " (forced)"
	}
	return s
}

func stagesLine(s Summary) string {
	parts := make([]string, 0, len(s.NamespacesPerStage))
	for _, c := range s.NamespacesPerStage {
		parts = append(parts, fmt.Sprintf("%s %d", c.Stage, c.Count))
	}
	return strings.Join(parts, " · ")
}

func enforcedLine(s Summary) string {
	return fmt.Sprintf("ingress %s (%d/%d) · egress %s (%d/%d)",
		fmtPercent(s.EnforcedRatio.Ingress), s.WorkloadsEnforced.Ingress, s.Workloads,
		fmtPercent(s.EnforcedRatio.Egress), s.WorkloadsEnforced.Egress, s.Workloads)
}

func promotionsLine(s Summary) string {
	return fmt.Sprintf("%d ready · %d waiting · %d blocked · %d complete", s.Ready, s.Waiting, s.Blocked, s.Complete)
}

// historyTail returns the last n transitions, newest first, and how many
// older ones were left out.
func historyTail(h []Transition, n int) ([]Transition, int) {
	start := 0
	if n > 0 && len(h) > n {
		start = len(h) - n
	}
	out := make([]Transition, 0, len(h)-start)
	for i := len(h) - 1; i >= start; i-- {
		out = append(out, h[i])
	}
	return out, start
}

func (r *Report) now() time.Time { return r.GeneratedAt }
