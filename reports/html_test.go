package reports

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/posture-dev/posture/internal/testenv"
)

// browser is a headless Debian chromium with a fresh profile, recording
// every console message, exception, browser log error and network request
// that is not the page itself.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := testenv.RequireCommand(t, "chromium")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enabling network events: %v", err)
	}
	return b
}

func (b *browser) record(ev any) {
	var p string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		p = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			p += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
			p = fmt.Sprintf("browser log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		if !strings.HasPrefix(e.Request.URL, "file://") {
			p = "network request: " + e.Request.URL
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

func (b *browser) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("page problem: %s", p)
	}
}

// open writes page to a file and loads it.
func (b *browser) open(t *testing.T, page []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitReady("#overview")); err != nil {
		t.Fatalf("loading the report: %v", err)
	}
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %q: %v", js, err)
	}
	return v
}

type chartBox struct {
	Class  string  `json:"cls"`
	W      float64 `json:"w"`
	H      float64 `json:"h"`
	Marks  int     `json:"marks"`  // drawn paths and rects
	Inked  int     `json:"inked"`  // of which with a non-empty bounding box
	Labels int     `json:"labels"` // text elements
}

const chartsJS = `Array.from(document.querySelectorAll("svg.chart")).map(function (s) {
  var r = s.getBoundingClientRect();
  var marks = Array.from(s.querySelectorAll("path, rect"));
  return {cls: s.getAttribute("class"), w: r.width, h: r.height, marks: marks.length,
    inked: marks.filter(function (m) { var b = m.getBBox(); return b.width > 0 || b.height > 0; }).length,
    labels: s.querySelectorAll("text").length};
})`

// TestHTMLInChromium loads the fixture report in a real browser: no
// console errors or fetches, every chart drawn with a size and marks, the
// namespace filter works (so the CSP admits our script), and a screenshot
// that is a real, non-blank PNG.
func TestHTMLInChromium(t *testing.T) {
	b := newBrowser(t)
	page := render(t, "html", Options{Workloads: true})
	b.open(t, page)

	charts := eval[[]chartBox](t, b, chartsJS)
	r, _ := Build(fixtureStatus(), Options{})
	if want := 1 + 3*len(r.Namespaces); len(charts) != want {
		t.Fatalf("%d charts on the page, want %d (cluster stages + coverage, would-deny and timeline per namespace)", len(charts), want)
	}
	for i, c := range charts {
		if c.W < 100 || c.H < 20 || c.Inked == 0 || c.Inked != c.Marks || c.Labels == 0 && !strings.Contains(c.Class, "timeline") {
			t.Errorf("chart %d (%s) did not render: %+v", i, c.Class, c)
		}
	}
	// The would-deny and coverage lines have real geometry, not a point.
	if n := eval[int](t, b, `Array.from(document.querySelectorAll("path.cov")).filter(function (p) { return p.getTotalLength() > 50; }).length`); n != len(r.Namespaces) {
		t.Errorf("%d coverage lines drawn, want %d", n, len(r.Namespaces))
	}

	// The filter is our only script; it runs only if the CSP hash matches.
	filter := func(q string) []string {
		return eval[[]string](t, b, `(function () {
  var f = document.getElementById("filter");
  f.value = `+strconv.Quote(q)+`;
  f.dispatchEvent(new Event("input"));
  return Array.from(document.querySelectorAll("section")).filter(function (s) { return !s.hidden; }).map(function (s) { return s.dataset.ns; });
})()`)
	}
	if visible := filter("check"); len(visible) != 1 || visible[0] != "checkout" {
		t.Errorf("filtering for \"check\" shows %v, want [checkout]", visible)
	}
	if visible := filter(""); len(visible) != len(r.Namespaces) {
		t.Errorf("clearing the filter shows %d namespaces, want %d", len(visible), len(r.Namespaces))
	}

	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	b.check(t)
}

// checkPNG decodes the screenshot and wants a page-sized image with many
// colours: a blank or error page has one or two.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 800 || bounds.Dy() < 600 {
		t.Errorf("screenshot is only %v", bounds)
	}
	colours := map[[3]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
	}
	var _ image.Image = img
}

// TestHostileHTMLInChromium loads the hostile report: nothing injected
// runs or appears, every value is on the page as text.
func TestHostileHTMLInChromium(t *testing.T) {
	b := newBrowser(t)
	b.open(t, renderHostile(t, "html", Options{}))
	got := eval[map[string]any](t, b, `({
  pwned: typeof window.__pwned !== "undefined",
  scripts: document.scripts.length,
  styles: document.querySelectorAll("style").length,
  imgs: document.images.length,
  bodyShown: getComputedStyle(document.body).display !== "none",
  headings: Array.from(document.querySelectorAll("section h2 .u")).map(function (e) { return e.textContent; })
})`)
	if got["pwned"] != false || got["scripts"] != float64(1) || got["styles"] != float64(1) || got["imgs"] != float64(0) || got["bodyShown"] != true {
		t.Errorf("injection: %v", got)
	}
	headings, _ := got["headings"].([]any)
	if len(headings) != len(hostile) {
		t.Fatalf("%d namespace headings, want %d", len(headings), len(hostile))
	}
	shown := map[string]bool{}
	for _, h := range headings {
		shown[h.(string)] = true
	}
	for _, h := range hostile {
		if !shown[strings.ReplaceAll(h, "\r\n", "\n")] {
			t.Errorf("namespace %.40q is not shown verbatim", h)
		}
	}
	b.check(t)
}
