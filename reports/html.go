package reports

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
)

//go:embed html/report.tmpl
var htmlTemplate string

//go:embed html/report.css
var htmlStyle string

//go:embed html/report.js
var htmlScript string

// The page carries a Content-Security-Policy that allows only its own
// style and script (by hash) and no fetches at all: the report must stay
// self-contained, and should escaping ever miss, an injected script,
// style or image still would not load.
var (
	pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
		"time":       fmtTime,
		"percent":    fmtPercent,
		"count":      fmtCount,
		"seconds":    fmtSeconds,
		"transition": transitionText,
		"gate":       gateWord,
		"state":      stateWord,
		"enforced":   enforcedWord,
		"dash":       dash,
	}).Parse(htmlTemplate))
	pageCSP = "default-src 'none'; style-src " + cspHash(htmlStyle) + "; script-src " + cspHash(htmlScript) +
		"; img-src 'none'; base-uri 'none'; form-action 'none'"
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

type htmlPage struct {
	R        *Report
	CSP      string
	Style    template.CSS
	Script   template.JS
	Stages   stageBar
	Sections []htmlSection
}

type htmlSection struct {
	*NamespaceReport
	ID             string
	NextText       string
	NextLine       string
	Blockers       []string
	CoverageChart  seriesChart
	WouldDenyChart seriesChart
	Timeline       timelineChart
	History        []Transition // newest first
}

// WriteHTML renders the report as one self-contained HTML page with inline
// SVG charts: no script, style, font or image is fetched.
func WriteHTML(w io.Writer, r *Report) error {
	p := htmlPage{
		R:      r,
		CSP:    pageCSP,
		Style:  template.CSS(htmlStyle),
		Script: template.JS(htmlScript),
		Stages: stageBarOf(r.Summary),
	}
	now := r.now()
	p.Sections = make([]htmlSection, len(r.Namespaces))
	for i := range r.Namespaces {
		nr := &r.Namespaces[i]
		hist, _ := historyTail(nr.History, 0)
		p.Sections[i] = htmlSection{
			NamespaceReport: nr,
			ID:              fmt.Sprintf("ns-%d", i),
			NextText:        nr.nextShort(),
			NextLine:        nr.nextLine(),
			CoverageChart:   seriesChartOf(nr.Samples, now, func(s Sample) float64 { return s.Coverage }, true),
			WouldDenyChart:  seriesChartOf(nr.Samples, now, func(s Sample) float64 { return float64(s.WouldDeny) }, false),
			Timeline:        timelineOf(nr, now),
			History:         hist,
		}
		if nr.Next.State == PromotionBlocked {
			p.Sections[i].Blockers = nr.blockers()
		}
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := pageTemplate.Execute(bw, p); err != nil {
		return fmt.Errorf("writing html: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing html: %w", err)
	}
	return nil
}
