package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// mdMax caps user-controlled values in Markdown: a change ticket is read,
// not parsed; JSON carries whole values.
const mdMax = 256

// WriteMarkdown renders the report as GitHub-flavoured Markdown, ready to
// paste into a pull request or a change ticket.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	m := &mdWriter{w: bw, opts: r.opts}
	m.report(r)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing markdown: %w", err)
	}
	return nil
}

type mdWriter struct {
	w    *bufio.Writer
	opts Options
}

// mdCode puts a name in a code span, where Markdown and HTML mean nothing;
// only a pipe still ends a table cell, so it is escaped, and the fence is
// longer than any backtick run inside.
func mdCode(s string) string {
	s = plain(s, mdMax)
	if s == "" {
		return "—"
	}
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdText escapes free text (reasons, blockers) so it renders as written.
func mdText(s string) string {
	s = plain(s, mdMax)
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '#', '~', '&', '!':
			b.WriteByte('\\')
		case '-', '+', '=':
			if i == 0 {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (m *mdWriter) line(format string, a ...any) { fmt.Fprintf(m.w, format+"\n", a...) }

func (m *mdWriter) row(cells ...string) {
	m.w.WriteString("|")
	for _, c := range cells {
		m.w.WriteString(" ")
		m.w.WriteString(c)
		m.w.WriteString(" |")
	}
	m.w.WriteString("\n")
}

func mdGate(pass bool) string {
	if pass {
		return "✅ pass"
	}
	return "❌ **FAIL**"
}

func mdState(s string) string {
	switch s {
	case PromotionBlocked:
		return "⛔"
	case PromotionReady:
		return "🟢"
	case PromotionComplete:
		return "✅"
	default:
		return "⏳"
	}
}

func (m *mdWriter) report(r *Report) {
	s := r.Summary
	m.line("# Posture rollout report")
	m.line("")
	m.line("Generated %s.", fmtTime(r.GeneratedAt))
	m.line("")
	m.row("Cluster", "")
	m.row("---", "---")
	m.row("Namespaces", fmt.Sprintf("%d (%s)", s.Namespaces, stagesLine(s)))
	m.row("Workloads", fmt.Sprintf("%d, default deny enforced for %s", s.Workloads, enforcedLine(s)))
	m.row("Next promotions", promotionsLine(s))
	m.row("Would-deny flows", fmt.Sprintf("%s in the last 24h, %s in 7d", fmtCount(s.WouldDeny24h), fmtCount(s.WouldDeny7d)))
	m.line("")
	if len(r.Namespaces) > 0 {
		m.line("## Namespaces")
		m.line("")
		m.row("Namespace", "Stage", "In stage", "Coverage", "Would-deny 24h / 7d", "Gates", "Next promotion")
		m.row("---", "---", "---:", "---:", "---:", "---:", "---")
		for i := range r.Namespaces {
			nr := &r.Namespaces[i]
			m.row(mdCode(nr.Namespace), nr.Stage, fmtSeconds(nr.TimeInStageSeconds), fmtPercent(nr.Coverage),
				fmtCount(nr.WouldDeny.Last24h)+" / "+fmtCount(nr.WouldDeny.Last7d),
				fmt.Sprintf("%d/%d", nr.GatesPassing, len(nr.Gates)), mdState(nr.Next.State)+" "+mdText(nr.nextText()))
		}
	}
	if r.opts.Brief {
		return
	}
	for i := range r.Namespaces {
		m.namespace(&r.Namespaces[i])
	}
}

func (m *mdWriter) namespace(nr *NamespaceReport) {
	m.line("")
	m.line("## %s: %s", mdCode(nr.Namespace), mdText(nr.headline()))
	m.line("")
	m.line("%s %s", mdState(nr.Next.State), mdText(nr.nextLine()))
	if nr.Next.State == PromotionBlocked {
		m.line("")
		for _, b := range nr.blockers() {
			m.line("- %s", mdText(b))
		}
	}
	m.line("")
	m.line("Coverage **%s** · would-deny flows **%s** (24h), %s (7d) · workloads enforced: ingress %d/%d, egress %d/%d",
		fmtPercent(nr.Coverage), fmtCount(nr.WouldDeny.Last24h), fmtCount(nr.WouldDeny.Last7d),
		nr.EnforcedIngress, nr.WorkloadCount, nr.EnforcedEgress, nr.WorkloadCount)
	if len(nr.Gates) > 0 {
		m.line("")
		m.row("Gate", "Value", "Threshold", "Result", "Detail")
		m.row("---", "---", "---", "---", "---")
		for _, g := range nr.Gates {
			m.row(mdCode(g.Name), mdText(g.Value), mdText(g.Threshold), mdGate(g.Passing), mdText(g.Detail))
		}
	}
	if len(nr.WouldDeny.Top) > 0 {
		m.line("")
		m.line("### Top would-deny edges")
		m.line("")
		m.row("Source", "Destination", "Port", "Direction", "Count", "Last seen", "Rule change that would cover it")
		m.row("---", "---", "---", "---", "---:", "---", "---")
		for _, d := range nr.WouldDeny.Top {
			m.row(mdCode(d.Source), mdCode(d.Destination), mdCode(d.Port), mdText(d.Direction), fmtCount(d.Count), fmtTime(d.LastSeen), mdCode(d.Fix))
		}
	}
	if len(nr.Workloads) > 0 {
		m.line("")
		m.line("### Workloads")
		m.line("")
		m.row("Workload", "Stage", "In stage", "Ingress", "Egress", "Coverage", "Would-deny")
		m.row("---", "---", "---:", "---", "---", "---:", "---:")
		for _, wl := range nr.Workloads {
			m.row(mdCode(wl.Name), wl.Stage, fmtSeconds(wl.TimeInStageSeconds), enforcedWord(wl.EnforcedIngress), enforcedWord(wl.EnforcedEgress),
				fmtPercent(wl.Coverage), fmtCount(wl.WouldDeny))
		}
	}
	if len(nr.History) > 0 {
		tail, older := historyTail(nr.History, m.opts.HistoryLimit)
		m.line("")
		m.line("### History")
		m.line("")
		if older > 0 {
			m.line("Newest first; %d older transitions are in the JSON and HTML reports.", older)
			m.line("")
		}
		m.row("Time", "Change", "Workload", "Actor", "Reason")
		m.row("---", "---", "---", "---", "---")
		for _, h := range tail {
			m.row(fmtTime(h.Time), transitionText(h), mdCode(h.Workload), mdCode(h.Actor), mdText(h.Reason))
		}
	}
}
