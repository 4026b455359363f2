package advisor_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

var update = flag.Bool("update", false, "rewrite testdata/*.input and *.golden")

// caseOptions are the options a golden case runs with.
func caseOptions(name string) advisor.Options {
	switch name {
	case "l7":
		return advisor.Options{L7: true}
	case "cronjob", "operator", "probes", "cidr", "fqdn":
		return advisor.Options{}
	}
	return advisor.Options{}
}

func TestGolden(t *testing.T) {
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join("testdata", name+".input")
			if *update {
				var buf bytes.Buffer
				if err := synth.WriteFlows(&buf, cases[name]().flows); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			edges, _, err := evidence.LoadEdges(context.Background(), in, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := advisor.Suggest(edges, caseOptions(name))
			if err != nil {
				t.Fatalf("Suggest: %v", err)
			}
			got := render(t, name, p)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it; review the diff):\n%s", golden, firstDiff(string(want), string(got)))
			}
			// Deterministic: a second run gives the same bytes.
			p2, _ := advisor.Suggest(edges, caseOptions(name))
			if again := render(t, name, p2); !bytes.Equal(again, got) {
				t.Errorf("second run differs:\n%s", firstDiff(string(got), string(again)))
			}
		})
	}
}

// render is the reviewable form of a proposal: summary, notes,
// workloads, the stage plan, then the target set as YAML.
func render(t *testing.T, name string, p *advisor.Proposal) []byte {
	t.Helper()
	var b strings.Builder
	s := p.Summary
	fmt.Fprintf(&b, "# case %s\n", name)
	fmt.Fprintf(&b, "# summary: namespaces=%d workloads=%d policies=%d edges=%d flows=%d covered=%d pairs observed=%d allowed=%d\n",
		s.Namespaces, s.Workloads, s.Policies, s.Edges, s.Flows, s.CoveredFlows, s.ObservedPairs, s.AllowedPairs)
	fmt.Fprintf(&b, "# verification: checked=%v breakage=%d\n", p.Verification.Checked, len(p.Verification.Breakage))
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "# note [%s] %s: %s\n", n.Namespace, n.Kind, n.Text)
	}
	for _, np := range p.Namespaces {
		for _, w := range np.Workloads {
			fmt.Fprintf(&b, "# workload %s/%s selector=%v identities=%d ingress=%v egress=%v flows=%d\n",
				np.Namespace, w.Name, selString(w.Selector), len(w.Identities), w.Ingress, w.Egress, w.Flows)
		}
		for _, sd := range np.Stages {
			var names []string
			for _, pol := range sd.Policies {
				names = append(names, pol.Metadata.Name)
			}
			line := fmt.Sprintf("# stage %-8s %s", sd.Stage, np.Namespace)
			if sd.Workload != "" {
				line += " " + sd.Workload
			}
			if sd.Direction != "" {
				line += " " + sd.Direction
			}
			line += ": " + strings.Join(names, ", ")
			if r := sd.Readiness; r != nil {
				line += fmt.Sprintf(" (flows %d/%d covered, edges %d/%d, span %s)", r.CoveredFlows, r.Flows, r.CoveredEdges, r.Edges, r.Span)
			}
			b.WriteString(line + "\n")
		}
	}
	y, err := policy.Marshal(p.Policies(advisor.StageTarget))
	if err != nil {
		t.Fatal(err)
	}
	b.Write(y)
	return []byte(b.String())
}

func selString(es policy.EndpointSelector) string {
	var parts []string
	for k, v := range es.MatchLabels {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	for _, r := range es.MatchExpressions {
		parts = append(parts, r.Operator+"("+r.Key+")")
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a, c)
		}
	}
	return "(equal)"
}
