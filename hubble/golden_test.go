package hubble_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the shared captures")

// TestGoldenEdges reads each real capture into edges and compares the
// edge table with testdata/<capture>.golden, which was reviewed by hand
// against jq over the capture. Run with -update after a deliberate change
// and review the diff.
func TestGoldenEdges(t *testing.T) {
	for _, file := range testenv.HubbleCaptures(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			edges, st, err := evidence.LoadEdgesWith(context.Background(), file, nil, evidence.Options{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			got := renderGolden(filepath.Base(file), edges, st)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./hubble -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("edges of %s differ from %s; got:\n%s", file, golden, got)
			}
		})
	}
}

func renderGolden(name string, edges []flow.Edge, st evidence.Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %d lines, %d flows used, %d replies folded, %d non-flow, %d malformed\n",
		name, st.Lines, st.Flows, st.Replies, st.NonFlow, st.Malformed)
	fmt.Fprintf(&b, "# %d edges from %d connections/requests\n", len(edges), st.Connections)
	for i, e := range edges {
		fmt.Fprintf(&b, "\nedge %d: %s -> %s %s/%d\n", i+1, short(e.Source), short(e.Destination), e.Protocol, e.Port)
		fmt.Fprintf(&b, "  flows %d, seen at egress %d, ingress %d; verdicts %s\n", e.Flows, e.ObservedEgress, e.ObservedIngress, verdicts(e.Verdicts))
		fmt.Fprintf(&b, "  time %s .. %s\n", e.FirstSeen.Format(time.RFC3339Nano), e.LastSeen.Format(time.RFC3339Nano))
		fmt.Fprintf(&b, "  source identity %d %s\n", e.Source.Identity, e.Source.Labels.Strings())
		fmt.Fprintf(&b, "  destination identity %d %s\n", e.Destination.Identity, e.Destination.Labels.Strings())
		if len(e.SourcePods)+len(e.DestinationPods) > 0 {
			fmt.Fprintf(&b, "  pods %v -> %v\n", e.SourcePods, e.DestinationPods)
		}
		if len(e.DestinationIPs) > 0 {
			fmt.Fprintf(&b, "  destination IPs %v\n", e.DestinationIPs)
		}
		if len(e.DNSNames) > 0 {
			fmt.Fprintf(&b, "  names %v\n", e.DNSNames)
		}
		if len(e.DNSQueries) > 0 {
			fmt.Fprintf(&b, "  dns queries %v\n", e.DNSQueries)
		}
		for _, h := range e.HTTP {
			fmt.Fprintf(&b, "  http %s %s x%d\n", h.Method, h.Path, h.Count)
		}
	}
	return b.String()
}

func short(e flow.Endpoint) string {
	switch {
	case e.IsPod():
		return e.Namespace + "/" + e.Workload
	case e.Identity.IsReserved():
		return "reserved:" + e.Identity.ReservedName()
	}
	return fmt.Sprintf("identity:%d", e.Identity)
}

func verdicts(c flow.VerdictCounts) string {
	var parts []string
	for v, n := range c.All() {
		parts = append(parts, fmt.Sprintf("%s=%d", v, n))
	}
	return strings.Join(parts, " ")
}
