package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/internal/kubetest"
	"github.com/posture-dev/posture/rollout"
)

// demoNamespace is the namespace the demo rolls out.
const demoNamespace = "shop"

// stepRollout starts a throwaway etcd + kube-apiserver on loopback (when
// make k8s-bins has built them), installs Cilium's CRDs and walks the shop
// namespace through every stage with the real rollout engine, printing the
// gates and what each promotion applied. It writes the rollout status for
// the report step. Without the binaries it says how to get them and
// carries on: the demo needs no cluster.
func stepRollout(ctx context.Context, e *env) error {
	bins := kubetest.BinDir("")
	if m := kubetest.Missing(bins); m != "" {
		fmt.Fprintf(e.s.Out, "skipped: %s.\n", m)
		fmt.Fprintln(e.s.Out, "`make k8s-bins` builds etcd and kube-apiserver from the Go module proxy once (a few minutes; cached in .cache/k8s),")
		fmt.Fprintln(e.s.Out, "after which this step runs a staged rollout against a local API server.")
		return nil
	}
	if e.evidence == "" {
		fmt.Fprintln(e.s.Out, "(no evidence from the earlier steps; nothing to roll out)")
		return nil
	}
	edges, _, err := evidence.LoadEdges(ctx, e.evidence, nil)
	if err != nil {
		return fmt.Errorf("reading evidence: %w", err)
	}
	pr, err := advisor.Suggest(edges, advisor.Options{Namespaces: []string{demoNamespace}})
	if err != nil {
		return fmt.Errorf("suggesting: %w", err)
	}
	plans, err := rollout.PlansFromProposal(pr)
	if err != nil {
		return err
	}
	plan := plans[demoNamespace]
	if plan == nil {
		return fmt.Errorf("the proposal has no %s namespace", demoNamespace)
	}

	start := time.Now()
	env, err := kubetest.Launch(ctx, kubetest.Options{BinDir: bins})
	if err != nil {
		return fmt.Errorf("starting the local API server: %w", err)
	}
	defer env.Stop()
	if err := kubetest.InstallCRDs(ctx, env.Config, bins); err != nil {
		return err
	}
	fmt.Fprintf(e.s.Out, "local etcd + kube-apiserver up at %s with Cilium's CRDs (%s)\n", env.Config.Host, time.Since(start).Round(100*time.Millisecond))
	dc, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		return err
	}

	// The demo replays recorded evidence, so "now" is when it ends.
	var first, last, backupRan time.Time
	for _, ed := range edges {
		if first.IsZero() || ed.FirstSeen.Before(first) {
			first = ed.FirstSeen
		}
		if ed.LastSeen.After(last) {
			last = ed.LastSeen
		}
		if ed.Source.Namespace == demoNamespace && ed.Source.Workload == "backup" && ed.LastSeen.After(backupRan) {
			backupRan = ed.LastSeen
		}
	}
	if err := demoCluster(ctx, dc, backupRan); err != nil {
		return err
	}
	eng := rollout.NewEngine(dc, "demo@posture")
	eng.Now = func() time.Time { return last }
	// History is stamped on the replay's clock too, the demo's own running
	// time after the evidence ends, so the report's stage timeline lines
	// up with the evidence instead of starting after it.
	replayed := time.Now()
	eng.Clock = func() time.Time { return last.Add(time.Since(replayed)) }
	ev := rollout.NewEdgeEvidence(edges)
	req := func(st rollout.Step) rollout.Request {
		return rollout.Request{Namespace: demoNamespace, Plan: plan, Step: st, Evidence: ev}
	}

	fmt.Fprintf(e.s.Out, "\n$ posture rollout promote -n %s --flows %s   # with the default 7-day observation window\n", demoNamespace, filepath.Base(e.evidence))
	_, err = eng.Promote(ctx, req(rollout.Step{}))
	var ge *rollout.GateError
	if errors.As(err, &ge) {
		fmt.Fprintf(e.s.Out, "refused: %s\n", firstLines(err.Error(), 3))
		span := last.Sub(first).Truncate(time.Hour)
		eng.Gates.ObservationWindow = span
		w := strings.TrimSuffix(span.String(), "0m0s")
		fmt.Fprintf(e.s.Out, "(the synthetic evidence spans %s; the demo accepts that with --observation-window %s)\n", w, w)
	} else if err != nil {
		return err
	} else {
		fmt.Fprintln(e.s.Out, "promoted to baseline")
	}

	for {
		res, err := eng.Promote(ctx, req(rollout.Step{}))
		if err != nil {
			if strings.Contains(err.Error(), "nothing left to promote") {
				break
			}
			if errors.As(err, &ge) {
				fmt.Fprintf(e.s.Out, "refused: %s\n", firstLines(err.Error(), 6))
				break
			}
			return err
		}
		fmt.Fprintf(e.s.Out, "%-8s → %-8s %2d applied %2d deleted   gates: %s\n", res.From, res.To, len(res.Applied), len(res.Deleted), gateLine(res.Gates))
		if res.To == rollout.StageDone {
			break
		}
	}
	fmt.Fprintf(e.s.Out, "\n$ posture rollout rollback -n %s --to narrow   # one call; default deny goes off at once\n", demoNamespace)
	res, err := eng.Rollback(ctx, rollout.Request{Namespace: demoNamespace, Plan: plan, Step: rollout.Step{To: stagePtr(rollout.StageNarrow)}, Reason: "demo: show a rollback"})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.s.Out, "%s → %s (%d applied, %d deleted)\n", res.From, res.To, len(res.Applied), len(res.Deleted))
	fmt.Fprintf(e.s.Out, "$ posture rollout promote -n %s --to enforce && posture rollout promote -n %s --to done\n", demoNamespace, demoNamespace)
	res, err = eng.Promote(ctx, req(rollout.Step{To: stagePtr(rollout.StageEnforce)}))
	if err == nil {
		res, err = eng.Promote(ctx, req(rollout.Step{To: stagePtr(rollout.StageDone)}))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.s.Out, "back at %s\n", res.To)

	status, err := rollout.ComputeStatus(ctx, dc, rollout.StatusOptions{
		Namespaces: []string{demoNamespace}, Evidence: ev, Gates: eng.Gates, Now: eng.Clock(),
		Plans: func(string) (*rollout.NamespacePlan, error) { return plan, nil },
	})
	if err != nil {
		return err
	}
	path := filepath.Join(e.dir, "rollout-status.json")
	b, err := json.MarshalIndent(status, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing rollout status: %w", err)
	}
	e.status = path
	ns := status.Namespaces[0]
	fmt.Fprintf(e.s.Out, "\n%s is at %s: %d transitions recorded, coverage %.0f%%, %d would-deny flows in 24 h; status in %s\n",
		ns.Namespace, ns.Stage, len(ns.History), ns.Coverage*100, ns.WouldDeny24, path)
	return nil
}

func stagePtr(s rollout.Stage) *rollout.Stage { return &s }

// demoCluster creates the namespace and the backup CronJob, with the last
// run the evidence shows (no controller manager runs here to set it).
func demoCluster(ctx context.Context, dc dynamic.Interface, backupRan time.Time) error {
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": demoNamespace}}}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace: %w", err)
	}
	cj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": "backup", "namespace": demoNamespace},
		"spec": map[string]any{"schedule": "0 2 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"restartPolicy": "OnFailure", "containers": []any{map[string]any{"name": "backup", "image": "registry.example/backup:1"}},
		}}}}},
	}}
	res := dc.Resource(rollout.CronJobResource).Namespace(demoNamespace)
	got, err := res.Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating cronjob: %w", err)
	}
	if !backupRan.IsZero() {
		_ = unstructured.SetNestedField(got.Object, backupRan.UTC().Format(time.RFC3339), "status", "lastScheduleTime")
		if _, err := res.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("setting cronjob status: %w", err)
		}
	}
	return nil
}

func gateLine(r *rollout.GateReport) string {
	if r == nil {
		return "-"
	}
	var parts []string
	for _, g := range r.Gates {
		mark := "✓"
		if !g.Passing {
			mark = "✗"
		}
		parts = append(parts, fmt.Sprintf("%s %s", mark, g.Name))
	}
	return strings.Join(parts, ", ")
}

func firstLines(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, "\n  ")
}
