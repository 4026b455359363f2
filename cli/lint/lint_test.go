package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/internal/testenv"
	"github.com/posture-dev/posture/policy"
)

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runIn(t, "", args...)
}

func runIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := New(cmdutil.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func TestLintSeeds(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "seeds", "examples")
	out, errOut, err := run(t, "--policies", dir)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("exit %v, want ExitError 1", err)
	}
	for _, want := range []string{
		filepath.Join(dir, "19-deny-a-to-b.yaml") + `:10:3: error [unknown-field] spec.deny: unknown field "deny"` + "\n    hint: Cilium has no \"deny\" field",
		filepath.Join(dir, "12-coreapi-deny-from-jobs.yaml") + ":13:9: error [namespace-label-as-pod-label] ",
		filepath.Join(dir, "15-node-access-controls.yaml") + ":6:3: warning [host-policy-all-nodes] spec.nodeSelector: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "skipped") || !strings.Contains(errOut, "skipped "+filepath.Join(dir, "17-app-a-deployment.yaml")+":2: apps/v1 Deployment") {
		t.Errorf("skipped documents belong on stderr:\n%s", errOut)
	}
	if !strings.HasSuffix(errOut, "4 errors, 11 warnings, 6 info in 20 files (18 policies, 3 other documents skipped)\n") {
		t.Errorf("summary:\n%s", errOut)
	}
}

func TestLintJSONAndClean(t *testing.T) {
	dir := t.TempDir()
	clean := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-to-api, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
`
	f := filepath.Join(dir, "clean.yaml")
	if err := os.WriteFile(f, []byte(clean), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "--policies", f, "-o", "json")
	if err != nil {
		t.Fatalf("clean policy: %v\n%s", err, errOut)
	}
	var fs []policy.Finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil || len(fs) != 0 {
		t.Errorf("json %q: %v", out, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.NewReplacer(`port: "8080"`, "port: 8080", "web-to-api", "other").Replace(clean)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "--policies", dir, "-o", "json")
	if cmdutil.ExitCode(err) != 1 {
		t.Errorf("exit %v", err)
	}
	if err := json.Unmarshal([]byte(out), &fs); err != nil || len(fs) != 1 {
		t.Fatalf("json %q: %v", out, err)
	}
	got := fs[0]
	if got.File != bad || got.Line != 8 || got.Severity != policy.SeverityError || got.Rule != policy.CodeWrongType ||
		got.Path != "spec.ingress[0].toPorts[0].ports[0].port" || got.Hint != `quote the value: "8080"` {
		t.Errorf("finding %+v", got)
	}
}

func TestLintBadPaths(t *testing.T) {
	if _, _, err := run(t, "--policies", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .yaml, .yml or .json files") {
		t.Errorf("empty dir: %v", err)
	}
	if _, _, err := run(t, "--policies", "/nonexistent/p.yaml"); err == nil || cmdutil.ExitCode(err) != 1 {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := run(t, "-o", "yaml", "--policies", "x"); err == nil || !strings.Contains(err.Error(), "must be one of: table|json") {
		t.Errorf("bad -o: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "garbage.yaml")
	if err := os.WriteFile(bin, []byte{0x7f, 'E', 'L', 'F', 0, 0, 0xff, 0xfe, 0x00}, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "--policies", bin)
	if cmdutil.ExitCode(err) != 1 || !strings.Contains(out, "garbage.yaml:1:") || !strings.Contains(out, "error [file]") {
		t.Errorf("binary garbage: %v\n%s", err, out)
	}
}

// A policy on standard input is linted like a file named <stdin>.
func TestLintStdin(t *testing.T) {
	doc := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  endpointSelector: {}
  ingress:
  - toPorts: [{ports: [{port: 8080, protocol: TCP}]}]
`
	out, errOut, err := runIn(t, doc, "--policies", "-")
	if cmdutil.ExitCode(err) != 1 || !strings.Contains(out, "<stdin>:7:") || !strings.Contains(out, "[wrong-type]") {
		t.Errorf("stdin: exit %v\n%s%s", err, out, errOut)
	}
	clean := strings.Replace(doc, "port: 8080", `port: "8080"`, 1)
	if out, errOut, err := runIn(t, clean, "--policies", "-"); err != nil || strings.Contains(out, "error") {
		t.Errorf("clean stdin: %v\n%s%s", err, out, errOut)
	}
}
