package reports

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/posture-dev/posture/rollout"
)

// Label values are user-controlled: whoever can label a pod or name a
// namespace writes into the report. These values try every way in.
var hostile = []string{
	`<script>window.__pwned=1;alert(1)</script>`,
	`"'><img src=x onerror="window.__pwned=1">`,
	`</style><style>body{display:none}</style>`,
	`</script><script>window.__pwned=1</script>`,
	"pipe|in|name\nnew line\r\n| --- |",
	"\x1b[2J\x1b[31mterminal escape\x1b[0m\a",
	strings.Repeat("very-long-label-value-", 300),
	"платежи-支付-💳-ñandú",
	"\u202Eevil.exe\u202C gnp.txt",
	"مدفوعات-الدفع",
	"``code`` **bold** [link](javascript:alert(1)) # heading &lt;b&gt;",
	`{{.Namespace}} ${x} %s %!v`,
}

func hostileStatus() *rollout.Status {
	now := fixtureNow
	st := &rollout.Status{GeneratedAt: now}
	for i, h := range hostile {
		next := rollout.StageNarrow
		ns := rollout.NamespaceStatus{
			Namespace: h, Stage: rollout.StagePlatform, StageSince: now.Add(-30 * time.Hour), Coverage: 0.9,
			WouldDeny24: 5, WouldDeny7d: 50, NextStage: &next,
			Gates:     []rollout.GateResult{{Name: h, Value: h, Threshold: h, Detail: h}},
			Blockers:  []string{h},
			TopDenied: []rollout.WouldDeny{{Source: h, Destination: h, Port: h, Direction: h, Workload: h, Count: 5, LastSeen: now, Fix: h}},
			Workloads: []rollout.WorkloadStatus{{Name: h, Stage: rollout.StagePlatform, StageSince: now.Add(-time.Hour), Coverage: 0.5}},
			History:   []rollout.Transition{{Time: now.Add(-30 * time.Hour), From: rollout.StageBaseline, To: rollout.StagePlatform, Workload: h, Actor: h, Reason: h}},
			Samples:   []rollout.Sample{{Time: now.Add(-48 * time.Hour), Coverage: 0.5, WouldDeny: uint64(i)}, {Time: now, Coverage: 0.9, WouldDeny: 5}},
		}
		st.Namespaces = append(st.Namespaces, ns)
	}
	return st
}

func renderHostile(t testing.TB, format string, opts Options) []byte {
	t.Helper()
	opts.Workloads = true
	r, err := Build(hostileStatus(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, format); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHostileTable(t *testing.T) {
	for _, width := range []int{0, 80, 132} {
		out := string(renderHostile(t, "table", Options{Width: width}))
		if strings.ContainsAny(out, "\x1b\a\r\u202E\u202C") {
			t.Errorf("width %d: table passes a control or bidi character through to the terminal", width)
		}
		for i, line := range strings.Split(out, "\n") {
			if width > 0 && textWidth(line) > width {
				t.Errorf("width %d: line %d is %d columns wide: %q", width, i+1, textWidth(line), line)
				break
			}
		}
		if !strings.Contains(out, `\u202e`) || !strings.Contains(out, `\x1b`) && !strings.Contains(out, `\u001b`) {
			t.Errorf("width %d: control characters should be shown escaped", width)
		}
	}
}

func TestHostileMarkdown(t *testing.T) {
	out := string(renderHostile(t, "markdown", Options{}))
	if strings.ContainsAny(out, "\x1b\a\r\u202E\u202C") {
		t.Error("markdown passes a control or bidi character through")
	}
	// Every row of a table has as many cells as its header: no value may
	// end a cell (|) or a row (newline).
	cols := -1
	for i, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = -1
			continue
		}
		n := len(regexp.MustCompile(`(^|[^\\])\|`).FindAllString(line, -1))
		if cols == -1 {
			cols = n
		} else if n != cols {
			t.Errorf("line %d has %d cell borders, its table has %d: %q", i+1, n, cols, line)
		}
	}
	// Outside code spans, no raw HTML tag or link survives.
	noCode := regexp.MustCompile("(`+)[^`]*?(`+)").ReplaceAllString(out, "")
	if m := regexp.MustCompile(`(^|[^\\])<[a-z/]`).FindString(noCode); m != "" {
		t.Errorf("unescaped HTML in markdown: %q", m)
	}
	if strings.Contains(noCode, "](javascript") && !strings.Contains(noCode, `\](javascript`) {
		t.Error("a link survived in markdown")
	}
}

func TestHostileJSON(t *testing.T) {
	out := renderHostile(t, "json", Options{})
	if !json.Valid(out) {
		t.Fatal("json report is not valid JSON")
	}
	if err := validate(t, compileSchema(t), out); err != nil {
		t.Errorf("hostile report does not match the schema: %v", err)
	}
	var doc struct {
		Namespaces []struct {
			Namespace string `json:"namespace"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range doc.Namespaces {
		got[n.Namespace] = true
	}
	for _, h := range hostile { // JSON carries values whole and exact
		if !got[h] {
			t.Errorf("namespace %.40q did not round-trip through JSON", h)
		}
	}
}

// TestHostileHTMLStructure parses the page as a browser would and checks
// that no value became markup: one script (ours), one style (ours), no
// image, no event handler attribute, and every value present as text.
func TestHostileHTMLStructure(t *testing.T) {
	out := renderHostile(t, "html", Options{})
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			count[n.Data]++
			for _, a := range n.Attr {
				url := a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "formaction" || a.Key == "xlink:href"
				if strings.HasPrefix(strings.ToLower(a.Key), "on") || url && !strings.HasPrefix(a.Val, "#ns-") {
					t.Errorf("<%s> has an injected attribute %s=%q", n.Data, a.Key, a.Val)
				}
			}
		}
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if count["script"] != 1 || count["style"] != 1 || count["img"] != 0 || count["iframe"] != 0 {
		t.Errorf("element counts: script %d, style %d, img %d, iframe %d; want 1, 1, 0, 0", count["script"], count["style"], count["img"], count["iframe"])
	}
	for _, h := range hostile {
		if !strings.Contains(text.String(), strings.ReplaceAll(h, "\r\n", "\n")) && !strings.Contains(text.String(), h) {
			t.Errorf("value %.40q is not shown as text", h)
		}
	}
}
