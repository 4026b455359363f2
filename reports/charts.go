package reports

import (
	"math"
	"strconv"
	"time"
)

// Charts are laid out here as numbers and drawn by the HTML template, so
// every piece of text in them (namespace names in titles) goes through
// html/template's escaping like the rest of the page.

const (
	chartW    = 360.0
	chartH    = 140.0
	padLeft   = 44.0
	padRight  = 8.0
	padTop    = 10.0
	padBottom = 22.0
	// maxPoints bounds a series; more samples than pixels draw nothing new.
	maxPoints = 360
)

type tick struct {
	X, Y   string
	Label  string
	Anchor string // SVG text-anchor, so edge labels stay inside the chart
}

// seriesChart is a line (coverage) or area (would-deny) chart over time.
type seriesChart struct {
	W, H   int
	Line   string // SVG path
	Area   string // SVG path, closed to the baseline
	X0, X1 string // plot area, for axes
	Y0, Y1 string
	YTicks []tick
	XTicks []tick
	Empty  bool
	Last   string // the latest value, for the title
}

// timelineChart shows which stage a namespace was at over time.
type timelineChart struct {
	W, H     int
	Segments []timelineSeg
	XTicks   []tick
}

type timelineSeg struct {
	X, W, LabelX string
	Stage        string
	Label        bool // wide enough to print the stage name
	From, To     string
	Dur          string
}

// stageBar is the cluster's namespaces-per-stage stacked bar.
type stageBar struct {
	W, H     int
	Segments []stageBarSeg
}

type stageBarSeg struct {
	X, W, LabelX string
	Stage        string
	Count        int
	Label        bool
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// thin keeps at most maxPoints samples, always including the last.
func thin(s []Sample) []Sample {
	if len(s) <= maxPoints {
		return s
	}
	step := float64(len(s)-1) / float64(maxPoints-1)
	out := make([]Sample, 0, maxPoints)
	for i := 0; i < maxPoints-1; i++ {
		out = append(out, s[int(float64(i)*step)])
	}
	return append(out, s[len(s)-1])
}

// timeAxis maps times in [t0, t1] onto the plot's x range.
type timeAxis struct {
	t0, t1 time.Time
	x0, x1 float64
}

func (a timeAxis) x(t time.Time) float64 {
	span := a.t1.Sub(a.t0)
	if span <= 0 {
		return a.x1
	}
	f := float64(t.Sub(a.t0)) / float64(span)
	return a.x0 + math.Min(math.Max(f, 0), 1)*(a.x1-a.x0)
}

func (a timeAxis) ticks(y float64) []tick {
	if !a.t1.After(a.t0) {
		return []tick{{X: f1(a.x1), Y: f1(y), Label: a.t1.UTC().Format("02 Jan"), Anchor: "end"}}
	}
	var out []tick
	for i, f := range []float64{0, 0.5, 1} {
		t := a.t0.Add(time.Duration(f * float64(a.t1.Sub(a.t0))))
		out = append(out, tick{X: f1(a.x0 + f*(a.x1-a.x0)), Y: f1(y), Label: t.UTC().Format("02 Jan"), Anchor: [...]string{"start", "middle", "end"}[i]})
	}
	return out
}

// seriesChartOf charts one value of the samples; ratio series are drawn
// on a percentage axis that starts at the nearest 10% below the minimum so
// that 97% and 99.9% look different, counts on an axis from zero.
func seriesChartOf(samples []Sample, now time.Time, value func(Sample) float64, isRatio bool) seriesChart {
	c := seriesChart{W: int(chartW), H: int(chartH)}
	x0, x1 := padLeft, chartW-padRight
	y0, y1 := chartH-padBottom, padTop // y0 is the baseline (bottom)
	c.X0, c.X1, c.Y0, c.Y1 = f1(x0), f1(x1), f1(y0), f1(y1)
	s := thin(samples)
	if len(s) == 0 {
		c.Empty = true
		return c
	}
	lo, hi := 0.0, 1.0
	if isRatio {
		m := 1.0
		for _, p := range s {
			m = math.Min(m, value(p))
		}
		lo = math.Min(math.Floor(m*10)/10, 0.9)
		c.Last = fmtPercent(value(s[len(s)-1]))
	} else {
		m := 0.0
		for _, p := range s {
			m = math.Max(m, value(p))
		}
		hi = niceCeil(m)
		c.Last = fmtCount(uint64(value(s[len(s)-1])))
	}
	ax := timeAxis{t0: s[0].Time, t1: now, x0: x0, x1: x1}
	if s[len(s)-1].Time.After(now) {
		ax.t1 = s[len(s)-1].Time
	}
	yOf := func(v float64) float64 {
		f := (v - lo) / (hi - lo)
		return y0 + math.Min(math.Max(f, 0), 1)*(y1-y0)
	}
	line := make([]byte, 0, len(s)*14)
	for i, p := range s {
		if i == 0 {
			line = append(line, 'M')
		} else {
			line = append(line, 'L')
		}
		line = strconv.AppendFloat(line, ax.x(p.Time), 'f', 1, 64)
		line = append(line, ' ')
		line = strconv.AppendFloat(line, yOf(value(p)), 'f', 1, 64)
	}
	if len(s) == 1 { // one sample: drawn as a level across the plot
		line = line[:0]
		for i, x := range []float64{x0, x1} {
			line = append(line, "ML"[i])
			line = strconv.AppendFloat(line, x, 'f', 1, 64)
			line = append(line, ' ')
			line = strconv.AppendFloat(line, yOf(value(s[0])), 'f', 1, 64)
		}
	}
	c.Line = string(line)
	if !isRatio {
		start, end := ax.x(s[0].Time), ax.x(s[len(s)-1].Time)
		if len(s) == 1 {
			start, end = x0, x1
		}
		c.Area = c.Line + "L" + f1(end) + " " + f1(y0) + "L" + f1(start) + " " + f1(y0) + "Z"
	}
	fracs := []float64{0, 0.5, 1}
	if !isRatio && hi < 2 { // no half flows on the axis
		fracs = []float64{0, 1}
	}
	for _, f := range fracs {
		v := lo + f*(hi-lo)
		label := fmtCount(uint64(math.Round(v)))
		if isRatio {
			label = strconv.FormatFloat(v*100, 'f', -1, 64) + "%"
		}
		c.YTicks = append(c.YTicks, tick{X: f1(x0 - 4), Y: f1(yOf(v)), Label: label})
	}
	c.XTicks = ax.ticks(chartH - 6)
	return c
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, so the
// axis reads in round numbers.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// timelineOf lays the namespace's stages end to end from its first known
// moment (first sample or first transition) to now. Per-workload
// transitions do not move the namespace, so they are left out.
func timelineOf(nr *NamespaceReport, now time.Time) timelineChart {
	c := timelineChart{W: 1100, H: 46}
	x0, x1 := 4.0, 1096.0
	var moves []Transition
	for _, h := range nr.History {
		if h.Workload == "" {
			moves = append(moves, h)
		}
	}
	start := nr.StageSince
	if len(moves) > 0 && moves[0].Time.Before(start) {
		start = moves[0].Time
	}
	if len(nr.Samples) > 0 && nr.Samples[0].Time.Before(start) {
		start = nr.Samples[0].Time
	}
	ax := timeAxis{t0: start, t1: now, x0: x0, x1: x1}
	if !now.After(start) {
		// Every recorded move happened at this instant (a replay, or a
		// status with no history): only the current stage has a span.
		c.Segments = []timelineSeg{{X: f1(x0), W: f1(x1 - x0), LabelX: f1(x0 + 3), Stage: nr.Stage, Label: true,
			From: fmtTime(start), To: fmtTime(now), Dur: fmtDuration(0)}}
		c.XTicks = ax.ticks(42)
		return c
	}
	type span struct {
		stage    string
		from, to time.Time
	}
	var spans []span
	from := start
	for _, m := range moves {
		if m.Time.Before(from) {
			continue
		}
		spans = append(spans, span{m.From, from, m.Time})
		from = m.Time
	}
	spans = append(spans, span{nr.Stage, from, now})
	for _, sp := range spans {
		xa, xb := ax.x(sp.from), ax.x(sp.to)
		w := math.Max(xb-xa, 1)
		c.Segments = append(c.Segments, timelineSeg{
			X: f1(xa), W: f1(w), LabelX: f1(xa + 3), Stage: sp.stage,
			Label: w >= float64(len(sp.stage))*6.5+6,
			From:  fmtTime(sp.from), To: fmtTime(sp.to), Dur: fmtDuration(sp.to.Sub(sp.from)),
		})
	}
	c.XTicks = ax.ticks(42)
	return c
}

func stageBarOf(s Summary) stageBar {
	b := stageBar{W: 720, H: 34}
	if s.Namespaces == 0 {
		return b
	}
	x := 0.0
	for _, c := range s.NamespacesPerStage {
		if c.Count == 0 {
			continue
		}
		w := float64(c.Count) / float64(s.Namespaces) * float64(b.W)
		label := strconv.Itoa(c.Count) + " " + c.Stage
		b.Segments = append(b.Segments, stageBarSeg{X: f1(x), W: f1(w), LabelX: f1(x + 4), Stage: c.Stage, Count: c.Count,
			Label: w >= float64(len(label))*7+8})
		x += w
	}
	return b
}
