package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under CI=true.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require stops the test when ok is false: a skip locally, a failure in CI.
func Require(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("required under CI=true: %s", reason)
	}
	t.Skipf("skipping: %s (runs under CI=true)", reason)
}

// RequireRoot needs uid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root")
}

// RequireCommand needs an executable on PATH and returns its path.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" not on PATH")
	return p
}

// RepoRoot is the main module's directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns ../shared beside the checkout (or $POSTURE_SHARED).
// Shared data is read in place, never copied into the repository; its
// absence fails the test, since CI always has it.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("POSTURE_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "testdata")); err != nil {
		t.Fatalf("shared data not found at %s (set POSTURE_SHARED): %v", dir, err)
	}
	return dir
}

// HubbleCaptures lists the real Hubble captures in the shared data.
func HubbleCaptures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(SharedDir(t), "testdata", "hubble", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Hubble captures under shared/testdata/hubble: %v", err)
	}
	return files
}
