package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/internal/kubetest"
	"github.com/posture-dev/posture/rollout"
	"github.com/posture-dev/posture/synth"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := New(cmdutil.Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// TestCommandsAgainstAPIServer drives the commands as a user would, with
// --kubeconfig and --context, on the synthetic shop's evidence: a refused
// promotion, plan, promotions, status as JSON, export, and rollback.
func TestCommandsAgainstAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := env.Kubeconfig(kc, "test-ctx"); err != nil {
		t.Fatal(err)
	}
	flows := synth.Shop(1)
	evPath := filepath.Join(dir, "flows.jsonl")
	if err := synth.WriteFlowsFile(evPath, flows); err != nil {
		t.Fatal(err)
	}
	last := synth.Last(flows)
	dc, _ := dynamic.NewForConfig(env.Config)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop"}}}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	base := []string{"--kubeconfig", kc, "--context", "test-ctx", "-n", "shop", "--flows", evPath, "--now", last.Format(time.RFC3339), "--actor", "tester", "--no-cronjob-gate"}
	args := func(extra ...string) []string { return append(append([]string{}, extra...), base...) }

	// A week of evidence minus a few hours: refused, naming the gate.
	_, stderr, err := run(t, args("promote")...)
	if err == nil || !strings.Contains(err.Error(), "observation-window") || !strings.Contains(stderr, "GATE") {
		t.Fatalf("promote with too little evidence: err=%v\nstderr=%s", err, stderr)
	}
	base = append(base, "--observation-window", "144h")

	out, _, err := run(t, args("plan")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "observe → baseline") || !strings.Contains(out, "## create ciliumnetworkpolicy/posture-baseline") || !strings.Contains(out, "+   enableDefaultDeny:") {
		t.Fatalf("plan output:\n%s", out)
	}
	out, _, err = run(t, args("promote", "--to", "narrow")...)
	if err != nil || !strings.Contains(out, "shop promoted observe → narrow") {
		t.Fatalf("promote --to narrow: %v\n%s", err, out)
	}
	out, _, err = run(t, args("plan", "--workload", "api", "--direction", "ingress")...)
	if err != nil || !strings.Contains(out, "## update ciliumnetworkpolicy/") || !strings.Contains(out, "-     ingress: false") || !strings.Contains(out, "+     ingress: true") {
		t.Fatalf("plan of an ingress flip should show the one-line change:\n%s\n%v", out, err)
	}

	exp := filepath.Join(dir, "gitops")
	out, _, err = run(t, args("promote", "--to", "enforce", "--export", exp)...)
	if err != nil || !strings.Contains(out, filepath.Join(exp, "shop", "kustomization.yaml")) {
		t.Fatalf("export: %v\n%s", err, out)
	}
	k, _ := os.ReadFile(filepath.Join(exp, "shop", "kustomization.yaml"))
	if !strings.Contains(string(k), "posture-rollout.yaml") || !strings.Contains(string(k), "posture-baseline.yaml") {
		t.Fatalf("kustomization:\n%s", k)
	}
	// Export did not touch the cluster.
	out, _, _ = run(t, args("status", "-o", "json")...)
	var st rollout.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if len(st.Namespaces) != 1 || st.Namespaces[0].Stage != rollout.StageNarrow || st.Namespaces[0].NextStage == nil || *st.Namespaces[0].NextStage != rollout.StageEnforce {
		t.Fatalf("status after export: %+v", st.Namespaces)
	}

	if _, _, err := run(t, args("promote", "--to", "enforce")...); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, args("status")...)
	if err != nil || !strings.Contains(out, "shop") || !strings.Contains(out, "enforce") {
		t.Fatalf("status table: %v\n%s", err, out)
	}
	// fitted to $COLUMNS when not on a terminal
	t.Setenv("COLUMNS", "72")
	out, _, err = run(t, args("status")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 72 {
			t.Errorf("status line of %d columns with COLUMNS=72: %q", n, line)
		}
	}
	t.Setenv("COLUMNS", "")
	out, _, err = run(t, args("rollback", "--reason", "incident 42")...)
	if err != nil || !strings.Contains(out, "shop rolled back enforce → narrow") {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	// Nothing enforces any more.
	l, _ := dc.Resource(rollout.CNPResource).Namespace("shop").List(context.Background(), metav1.ListOptions{})
	for _, u := range l.Items {
		if in, _, _ := unstructured.NestedBool(u.Object, "spec", "enableDefaultDeny", "ingress"); in {
			t.Fatalf("%s still enforces ingress after rollback", u.GetName())
		}
	}
	// serve: the Deployment's read-only status service.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		cmd := New(cmdutil.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
		cmd.SetArgs(append([]string{"serve", "--listen", addr}, base...))
		served <- cmd.ExecuteContext(sctx)
	}()
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		break
	}
	if !strings.Contains(body, `posture_rollout_stage{namespace="shop"} 3`) {
		t.Fatalf("/metrics should report shop at narrow (3):\n%.2000s", body)
	}
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var served0 rollout.Status
	if err := json.NewDecoder(resp.Body).Decode(&served0); err != nil || len(served0.Namespaces) == 0 {
		t.Fatalf("/status: %v %+v", err, served0)
	}
	resp.Body.Close()
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}

	if _, _, err := run(t, "promote", "--kubeconfig", kc, "--flows", evPath); err == nil || !strings.Contains(err.Error(), "--namespace is required") {
		t.Fatalf("promote without -n: %v", err)
	}
	if _, _, err := run(t, args("promote", "--force")...); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("--force without --reason: %v", err)
	}
}

// TestUnreachableServer names the problem and the flags to check.
func TestUnreachableServer(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: x}
contexts:
- name: gone
  context: {cluster: gone, user: u}
current-context: gone
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "status", "--kubeconfig", kc, "-n", "shop")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the API server") || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("want a clear unreachable error, got %v", err)
	}
	_, _, err = run(t, "status", "--kubeconfig", kc, "--context", "nope")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown context: %v", err)
	}
}
