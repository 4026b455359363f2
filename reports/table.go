package reports

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// cellMax caps user-controlled values in a terminal table; JSON and HTML
// carry them whole.
const cellMax = 80

// WriteTable renders the report as terminal tables.
func WriteTable(w io.Writer, r *Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	t := &tableWriter{w: bw, opts: r.opts}
	if err := t.report(r); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return bw.Flush()
}

type tableWriter struct {
	w    *bufio.Writer
	opts Options
	tb   *tablewriter.Table
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYel   = "\x1b[33m"
	ansiCyan  = "\x1b[36m"
	ansiDim   = "\x1b[2m"
)

func (t *tableWriter) paint(code, s string) string {
	if !t.opts.Color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (t *tableWriter) state(s string, text string) string {
	switch s {
	case PromotionBlocked:
		return t.paint(ansiRed, text)
	case PromotionReady, PromotionComplete:
		return t.paint(ansiGreen, text)
	default:
		return t.paint(ansiYel, text)
	}
}

func (t *tableWriter) gate(pass bool) string {
	if pass {
		return t.paint(ansiGreen, gateWord(pass))
	}
	return t.paint(ansiRed+ansiBold, gateWord(pass))
}

func (t *tableWriter) table(header []string, rows [][]string) error {
	// One tablewriter.Table serves every table of the report: creating
	// one allocates caches that cost more than rendering a small table.
	if t.tb == nil {
		t.tb = tablewriter.NewTable(t.w,
			tablewriter.WithEastAsian(tw.Off),
			tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithHeaderAlignment(tw.AlignLeft),
			tablewriter.WithRowAutoWrap(tw.WrapNone),
			tablewriter.WithHeaderAutoWrap(tw.WrapNone),
			tablewriter.WithTrimSpace(tw.Off),
			tablewriter.WithStringerCacheCustom(noCache{}),
		)
	} else {
		t.tb.Reset()
	}
	tb := t.tb
	// Wrapping is done here rather than by tablewriter so the table is
	// exactly as wide as the terminal allows.
	if caps := fitColumns(header, rows, t.opts.Width); caps != nil {
		header = wrapRow(header, caps)
		wrapped := make([][]string, len(rows))
		for i, row := range rows {
			wrapped[i] = wrapRow(row, caps)
		}
		rows = wrapped
	}
	h := make([]any, len(header))
	for i, s := range header {
		lines := strings.Split(s, "\n")
		for k, l := range lines {
			lines[k] = t.paint(ansiBold, l)
		}
		h[i] = strings.Join(lines, "\n")
	}
	tb.Header(h...)
	for _, row := range rows {
		if err := tb.Append(row); err != nil {
			return err
		}
	}
	return tb.Render()
}

// line prints a sentence, wrapped to the terminal; continuation lines are
// indented by indent spaces.
func (t *tableWriter) line(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	if t.opts.Width > 0 && textWidth(s) > t.opts.Width && !strings.Contains(s, "\x1b") {
		indent := len(s) - len(strings.TrimLeft(s, " -"))
		lines := strings.Split(wrapText(s, t.opts.Width-indent), "\n")
		for i := 1; i < len(lines); i++ {
			lines[i] = strings.Repeat(" ", indent) + lines[i]
		}
		s = strings.Join(lines, "\n")
	}
	t.w.WriteString(s)
	t.w.WriteByte('\n')
}

func (t *tableWriter) report(r *Report) error {
	s := r.Summary
	t.line("%s", t.paint(ansiBold, "Posture rollout report — "+fmtTime(r.GeneratedAt)))
	t.line("")
	t.line("Namespaces:  %d (%s)", s.Namespaces, stagesLine(s))
	t.line("Workloads:   %d, default deny enforced for %s", s.Workloads, enforcedLine(s))
	t.line("Promotions:  %s", promotionsLine(s))
	t.line("Would-deny:  %s flows in the last 24h, %s in 7d", fmtCount(s.WouldDeny24h), fmtCount(s.WouldDeny7d))
	t.line("")
	if len(r.Namespaces) > 0 {
		rows := make([][]string, 0, len(r.Namespaces))
		for i := range r.Namespaces {
			nr := &r.Namespaces[i]
			rows = append(rows, []string{
				plain(nr.Namespace, cellMax),
				t.paint(ansiCyan, nr.Stage),
				fmtSeconds(nr.TimeInStageSeconds),
				fmtPercent(nr.Coverage),
				fmtCount(nr.WouldDeny.Last24h) + " / " + fmtCount(nr.WouldDeny.Last7d),
				fmt.Sprintf("%d/%d", nr.GatesPassing, len(nr.Gates)),
				t.state(nr.Next.State, stateWord(nr.Next.State)),
				plain(nr.nextShort(), cellMax),
			})
		}
		header := []string{"NAMESPACE", "STAGE", "IN STAGE", "COVERAGE", "WOULD-DENY 24H / 7D", "GATES", "STATUS", "NEXT PROMOTION"}
		if t.opts.Width > 0 && t.opts.Width < 100 {
			// Eight columns in a narrow terminal: short headers leave the
			// room to the values.
			header = []string{"NAMESPACE", "STAGE", "FOR", "COVER", "DENY 24H/7D", "GATES", "STATUS", "NEXT"}
		}
		if err := t.table(header, rows); err != nil {
			return err
		}
	}
	if r.opts.Brief {
		return nil
	}
	for i := range r.Namespaces {
		if err := t.namespace(&r.Namespaces[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *tableWriter) namespace(nr *NamespaceReport) error {
	t.line("")
	t.line("%s", t.paint(ansiBold, "== "+plain(nr.Namespace, cellMax)+": "+nr.headline()))
	t.line("%s", t.state(nr.Next.State, plain(nr.nextLine(), 0)))
	if nr.Next.State == PromotionBlocked {
		for _, b := range nr.blockers() {
			t.line("  - %s", plain(b, 0))
		}
	}
	t.line("Coverage %s · would-deny %s flows (24h), %s (7d) · workloads enforced: ingress %d/%d, egress %d/%d",
		fmtPercent(nr.Coverage), fmtCount(nr.WouldDeny.Last24h), fmtCount(nr.WouldDeny.Last7d),
		nr.EnforcedIngress, nr.WorkloadCount, nr.EnforcedEgress, nr.WorkloadCount)
	if len(nr.Gates) > 0 {
		t.line("")
		rows := make([][]string, 0, len(nr.Gates))
		for _, g := range nr.Gates {
			rows = append(rows, []string{plain(g.Name, cellMax), plain(g.Value, cellMax), plain(g.Threshold, cellMax), t.gate(g.Passing), plain(g.Detail, cellMax)})
		}
		if err := t.table([]string{"GATE", "VALUE", "THRESHOLD", "RESULT", "DETAIL"}, rows); err != nil {
			return err
		}
	}
	if len(nr.WouldDeny.Top) > 0 {
		t.line("")
		t.line("Top would-deny edges, and the rule change that would cover each:")
		rows := make([][]string, 0, len(nr.WouldDeny.Top))
		for _, d := range nr.WouldDeny.Top {
			rows = append(rows, []string{
				plain(d.Source, cellMax), plain(d.Destination, cellMax), plain(d.Port, cellMax), plain(d.Direction, cellMax),
				fmtCount(d.Count), fmtTime(d.LastSeen), plain(dash(d.Fix), cellMax*2),
			})
		}
		if err := t.table([]string{"SOURCE", "DESTINATION", "PORT", "DIRECTION", "COUNT", "LAST SEEN", "RULE CHANGE"}, rows); err != nil {
			return err
		}
	}
	if len(nr.Workloads) > 0 {
		t.line("")
		rows := make([][]string, 0, len(nr.Workloads))
		for _, wl := range nr.Workloads {
			rows = append(rows, []string{
				plain(wl.Name, cellMax), wl.Stage, fmtSeconds(wl.TimeInStageSeconds),
				enforcedWord(wl.EnforcedIngress), enforcedWord(wl.EnforcedEgress),
				fmtPercent(wl.Coverage), fmtCount(wl.WouldDeny),
			})
		}
		if err := t.table([]string{"WORKLOAD", "STAGE", "IN STAGE", "INGRESS", "EGRESS", "COVERAGE", "WOULD-DENY"}, rows); err != nil {
			return err
		}
	}
	if len(nr.History) > 0 {
		tail, older := historyTail(nr.History, t.opts.HistoryLimit)
		t.line("")
		if older > 0 {
			t.line("History (newest first; %d older transitions in -o json or html):", older)
		} else {
			t.line("History (newest first):")
		}
		rows := make([][]string, 0, len(tail))
		for _, h := range tail {
			rows = append(rows, []string{fmtTime(h.Time), transitionText(h), plain(dash(h.Workload), cellMax), plain(h.Actor, cellMax), plain(h.Reason, cellMax*2)})
		}
		if err := t.table([]string{"TIME", "CHANGE", "WORKLOAD", "ACTOR", "REASON"}, rows); err != nil {
			return err
		}
	}
	return nil
}

// noCache stands in for tablewriter's Stringer cache: cells here are plain
// strings, and purging the default cache on every Reset reallocates it.
type noCache struct{}

func (noCache) Add(reflect.Type, reflect.Value) bool        { return false }
func (noCache) Get(reflect.Type) (v reflect.Value, ok bool) { return v, false }
func (noCache) Purge()                                      {}
