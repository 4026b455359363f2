package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/rollout"
)

func demoEnv(t *testing.T) (*env, *bytes.Buffer) {
	var out bytes.Buffer
	return &env{s: cmdutil.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, dir: t.TempDir()}, &out
}

func checkReportFiles(t *testing.T, e *env) {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(e.dir, "report.html"))
	if err != nil || !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.Contains(page, []byte(`<svg class="chart`)) {
		t.Errorf("report.html: %v %.60q", err, page)
	}
	md, err := os.ReadFile(filepath.Join(e.dir, "report.md"))
	if err != nil || !bytes.HasPrefix(md, []byte("# Posture rollout report")) {
		t.Errorf("report.md: %v %.60q", err, md)
	}
}

// Without a rollout, the report step judges the first promotion of every
// namespace of the suggestion on the demo's evidence.
func TestStepReportWithoutCluster(t *testing.T) {
	e, out := demoEnv(t)
	ctx := context.Background()
	if err := stepReport(ctx, e); err != nil || !strings.Contains(out.String(), "nothing to report") {
		t.Fatalf("without inputs: %v %q", err, out.String())
	}
	for _, st := range []func(context.Context, *env) error{stepEvidence, stepSuggest} {
		if err := st(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := stepReport(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"$ posture report --flows evidence.jsonl", "NAMESPACE", "shop", "observe", "observation-window", filepath.Join(e.dir, "report.html")} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	checkReportFiles(t, e)
}

// After a rollout, the step renders the status the rollout step wrote.
func TestStepReportFromRolloutStatus(t *testing.T) {
	e, out := demoEnv(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	st := rollout.Status{GeneratedAt: now, Namespaces: []rollout.NamespaceStatus{{
		Namespace: "shop", Stage: rollout.StageDone, StageSince: now.Add(-time.Hour), Coverage: 1,
		History: []rollout.Transition{{Time: now.Add(-time.Hour), From: rollout.StageL7, To: rollout.StageDone, Actor: "demo@posture", Reason: "gates passed"}},
	}}}
	data, _ := json.Marshal(st)
	e.status = filepath.Join(e.dir, "rollout-status.json")
	if err := os.WriteFile(e.status, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stepReport(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"$ posture report --status rollout-status.json", "shop", "done", "complete", "l7 → done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	checkReportFiles(t, e)
}
