package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posture-dev/posture/internal/testenv"
	"github.com/posture-dev/posture/rollout"
)

// exported returns every metric the collector exports for the fixture,
// with its label names.
func exported(t *testing.T) map[string]map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	st := fixtureStatus()
	reg.MustRegister(NewCollector(func() (*rollout.Status, error) { return st, nil }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		out[mf.GetName()] = labels
	}
	return out
}

var (
	metricRef   = regexp.MustCompile(`\bposture_[a-z0-9_]+`)
	selector    = regexp.MustCompile(`\b(posture_[a-z0-9_]+)\s*\{([^}]*)\}`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	grouping    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelValues = regexp.MustCompile(`label_values\((posture_[a-z0-9_]+)\s*,\s*([a-z_]+)\)`)
)

// TestDashboardQueriesExportedMetrics checks that every query of the
// Grafana dashboards names metrics the collector exports, with labels those
// metrics carry, so a renamed metric cannot leave an empty panel behind.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	metrics := exported(t)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "deploy", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards under deploy/grafana: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Title  string `json:"title"`
			UID    string `json:"uid"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
			Templating struct {
				List []struct {
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(data, &dash); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
			t.Errorf("%s: missing title, uid or panels", file)
		}
		used := map[string]bool{}
		check := func(where, expr string) {
			refs := metricRef.FindAllString(expr, -1)
			if len(refs) == 0 {
				t.Errorf("%s: %s: query %q names no posture metric", file, where, expr)
			}
			var labelsOfExpr []map[string]bool
			for _, m := range refs {
				used[m] = true
				if labels, ok := metrics[m]; !ok {
					t.Errorf("%s: %s: query uses %s, which the collector does not export", file, where, m)
				} else {
					labelsOfExpr = append(labelsOfExpr, labels)
				}
			}
			for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
				for _, mn := range matcherName.FindAllStringSubmatch(sel[2], -1) {
					if labels, ok := metrics[sel[1]]; ok && !labels[mn[1]] {
						t.Errorf("%s: %s: %s has no label %q", file, where, sel[1], mn[1])
					}
				}
			}
			for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
				for _, l := range strings.Split(g[1], ",") {
					l = strings.TrimSpace(l)
					found := false
					for _, labels := range labelsOfExpr {
						found = found || labels[l]
					}
					if l != "" && !found {
						t.Errorf("%s: %s: groups by %q, which no metric of the query carries", file, where, l)
					}
				}
			}
		}
		for _, p := range dash.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", file, p.Title)
			}
			for _, tg := range p.Targets {
				check("panel "+p.Title, tg.Expr)
			}
		}
		for _, v := range dash.Templating.List {
			for _, lv := range labelValues.FindAllStringSubmatch(v.Definition, -1) {
				if labels, ok := metrics[lv[1]]; !ok || !labels[lv[2]] {
					t.Errorf("%s: variable %q reads a label the collector does not export", file, v.Definition)
				}
			}
		}
		// The four metrics the rollout is judged by must be on the board.
		for _, m := range []string{MetricStage, MetricGatePassing, MetricWouldDeny, MetricCoverage} {
			if !used[m] {
				t.Errorf("%s: no panel shows %s", file, m)
			}
		}
	}
}
