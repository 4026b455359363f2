package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/internal/testenv"
)

// TestVerifyCountsConnectionsLikeEdges checks that verify's totals on real
// Hubble captures count what the edges count (connections and requests),
// not events: replies and repeated trace points weigh nothing.
func TestVerifyCountsConnectionsLikeEdges(t *testing.T) {
	// A policy that selects nothing: every flow is allowed, so the allowed
	// total is the total weight.
	pol := filepath.Join(t.TempDir(), "none.yaml")
	if err := os.WriteFile(pol, []byte(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: nobody, namespace: nowhere}
spec:
  endpointSelector: {matchLabels: {app: nobody}}
  ingress: [{}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, capture := range testenv.HubbleCaptures(t) {
		edges, _, err := evidence.LoadEdges(context.Background(), capture, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want uint64
		for _, e := range edges {
			want += e.Flows
		}
		out, errOut, err := run(t, "--policies", pol, "--flows", capture)
		if err != nil {
			t.Fatalf("%s: %v: %s", capture, err, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got, exp := lines[len(lines)-1], fmt.Sprintf("%d allowed, 0 denied", want); got != exp {
			t.Errorf("%s: verify says %q, edges count %d flows", filepath.Base(capture), got, want)
		}
	}
}
