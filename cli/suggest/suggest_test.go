package suggest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/synth"
)

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := New(cmdutil.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func shopEvidence(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	if err := synth.WriteFlowsFile(path, synth.Shop(3)); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSuggestTargetYAML(t *testing.T) {
	out, errs, err := run(t, "", "--flows", shopEvidence(t), "-n", "shop")
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	ps, err := policy.LoadBytes("stdout", []byte(out))
	if err != nil {
		t.Fatalf("output does not load: %v", err)
	}
	names := map[string]bool{}
	for _, p := range ps {
		if p.Metadata.Namespace != "shop" {
			t.Errorf("%s in namespace %q, asked for shop", p.Metadata.Name, p.Metadata.Namespace)
		}
		names[p.Metadata.Name] = true
		if dd := p.Spec.EnableDefaultDeny; p.Metadata.Name == "posture-api" && (dd == nil || !*dd.Ingress || !*dd.Egress) {
			t.Errorf("target narrow policy without default deny: %+v", dd)
		}
	}
	for _, want := range []string{"posture-api", "posture-frontend", "posture-platform-dns", "posture-payments"} {
		if !names[want] {
			t.Errorf("missing %s in %v", want, names)
		}
	}
	if names["posture-baseline"] {
		t.Error("the baseline is transitional and must not be in the target set")
	}
	for _, want := range []string{"suggested", "coverage: 100.0%", "least privilege"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestSuggestStageAllOut(t *testing.T) {
	dir := t.TempDir()
	if _, errs, err := run(t, "", "--flows", shopEvidence(t), "--stage", "all", "--out", dir); err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	for _, p := range []string{"baseline/shop/posture-baseline.yaml", "enforce/shop/posture-api.yaml",
		"target/shop/kustomization.yaml", "target/kustomization.yaml", "platform/shop/posture-platform-dns.yaml", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	ps, err := policy.LoadPath(filepath.Join(dir, "enforce"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if dd := p.Spec.EnableDefaultDeny; dd == nil || !*dd.Ingress || !*dd.Egress {
			t.Errorf("enforce stage %s/%s without default deny", p.Metadata.Namespace, p.Metadata.Name)
		}
	}
	k, _ := os.ReadFile(filepath.Join(dir, "target/shop/kustomization.yaml"))
	if !strings.Contains(string(k), "- posture-api.yaml") {
		t.Errorf("kustomization:\n%s", k)
	}
}

func TestSuggestBadInput(t *testing.T) {
	// No evidence: a message, no policies, success.
	out, errs, err := run(t, "", "--flows", "-")
	if err != nil || out != "" || !strings.Contains(errs, "no evidence") {
		t.Errorf("empty stdin: err=%v out=%q err=%q", err, out, errs)
	}
	if _, _, err := run(t, "", "--flows", shopEvidence(t), "--stage", "all"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("--stage all without --out: %v", err)
	}
	if _, _, err := run(t, "", "--flows", shopEvidence(t), "--stage", "bogus"); err == nil {
		t.Error("unknown stage accepted")
	}
	if _, _, err := run(t, ""); err == nil {
		t.Error("missing --flows accepted")
	}
	// An identity without labels is explained on stderr.
	line := `{"apiVersion":"posture.dev/v1","kind":"Flow","flow":{"source":{"namespace":"x","pod":"p","labels":["k8s:io.kubernetes.pod.namespace=x"]},"destination":{"namespace":"x","pod":"q","labels":["k8s:app=q","k8s:io.kubernetes.pod.namespace=x"]},"protocol":"TCP","dstPort":80}}`
	_, errs, err = run(t, line+"\n", "--flows", "-")
	if err != nil || !strings.Contains(errs, "no workload labels") {
		t.Errorf("unlabelled: err=%v stderr=%s", err, errs)
	}
}
