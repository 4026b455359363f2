package kubetest

import (
	"context"
	"testing"

	"github.com/posture-dev/posture/internal/testenv"
)

// Start is for tests: it requires the binaries (skipping locally, failing
// under CI=true when they are missing), starts a fresh API server with the
// Cilium policy CRDs installed, and stops it when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	bins := BinDir("")
	m := Missing(bins)
	testenv.Require(t, m == "", m)
	ctx := context.Background()
	env, err := Launch(ctx, Options{BinDir: bins})
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(env.Stop)
	if err := InstallCRDs(ctx, env.Config, bins); err != nil {
		t.Fatalf("installing cilium CRDs: %v", err)
	}
	return env
}
