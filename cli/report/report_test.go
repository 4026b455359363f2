package report

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/rollout"
)

func writeStatus(t *testing.T) string {
	t.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	next := rollout.StageEnforce
	eta := now.Add(30 * time.Hour)
	st := rollout.Status{GeneratedAt: now, Namespaces: []rollout.NamespaceStatus{
		{Namespace: "shop", Stage: rollout.StageNarrow, StageSince: now.Add(-50 * time.Hour), Coverage: 0.995, NextStage: &next, ETA: &eta,
			Gates:     []rollout.GateResult{{Name: "observation-window", Value: "2d 2h", Threshold: "3d", Numeric: 50}},
			Workloads: []rollout.WorkloadStatus{{Name: "frontend", Stage: rollout.StageNarrow, Coverage: 1}}},
		{Namespace: "billing", Stage: rollout.StageObserve, StageSince: now.Add(-time.Hour)},
	}}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "status.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func execute(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := New(cmdutil.Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestReportFormats(t *testing.T) {
	status := writeStatus(t)
	out, _, err := execute(t, "--status", status)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NAMESPACE", "shop", "billing", "narrow", "→ enforce in 1d 6h"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour written to a non-terminal")
	}
	out, _, err = execute(t, "--status", status, "-n", "shop", "-o", "json", "--workloads")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		APIVersion string `json:"apiVersion"`
		Namespaces []struct {
			Namespace string `json:"namespace"`
			Workloads []struct {
				Name string `json:"name"`
			} `json:"workloads"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json output: %v", err)
	}
	if doc.APIVersion != "posture.dev/report/v1" || len(doc.Namespaces) != 1 || doc.Namespaces[0].Namespace != "shop" ||
		len(doc.Namespaces[0].Workloads) != 1 {
		t.Errorf("json output = %+v", doc)
	}
	out, _, err = execute(t, "--status", status, "-n", "shop")
	if err != nil || !strings.Contains(out, "WORKLOAD") || !strings.Contains(out, "frontend") {
		t.Errorf("-n shop should list its workloads: %v\n%s", err, out)
	}
	out, _, err = execute(t, "--status", status, "-n", "shop", "--workloads=false")
	if err != nil || strings.Contains(out, "frontend") {
		t.Errorf("--workloads=false should hide them: %v\n%s", err, out)
	}
	md, _, err := execute(t, "--status", status, "-o", "markdown")
	if err != nil || !strings.HasPrefix(md, "# Posture rollout report") {
		t.Errorf("markdown: %v\n%s", err, md)
	}
}

func TestReportOutFile(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "report.html")
	out, errs, err := execute(t, "--status", writeStatus(t), "-o", "html", "--out", dest)
	if err != nil {
		t.Fatal(err)
	}
	if out != "" || !strings.Contains(errs, dest) {
		t.Errorf("stdout %q, stderr %q: want nothing on stdout and the path on stderr", out, errs)
	}
	data, err := os.ReadFile(dest)
	if err != nil || !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
		t.Errorf("report file: %v %.40q", err, data)
	}
}

func TestReportErrors(t *testing.T) {
	status := writeStatus(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{\n  \"generatedAt\": \"2026-11-23T12:00:00Z\",\n  \"namespaces\": [{\"namespace\": \"a\", \"stage\": 3}]\n}\n"), 0o644)
	badStage := filepath.Join(t.TempDir(), "stage.json")
	os.WriteFile(badStage, []byte(`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": [{"namespace": "a", "stage": "enforcing"}]}`), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, "pass --status FILE, or a cluster"},
		{[]string{"--status", status, "--flows", status}, "none of the others can be"},
		{[]string{"--status", status, "-n", "nope"}, `namespace "nope" is not in the rollout status`},
		{[]string{"--status", status, "-o", "yaml"}, "must be one of: table|markdown|json|html"},
		{[]string{"--status", filepath.Join(t.TempDir(), "missing.json")}, "missing.json"},
		{[]string{"--status", bad}, "bad.json:3:"},
		{[]string{"--status", badStage}, `unknown stage "enforcing"`},
	}
	for _, c := range cases {
		_, _, err := execute(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("posture report %v: error %v, want it to mention %q", c.args, err, c.want)
		}
	}
}

// --status also takes posture rollout serve's /status URL.
func TestReportStatusURL(t *testing.T) {
	data, err := os.ReadFile(writeStatus(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.Error(w, "computing status: apiserver unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	}))
	defer srv.Close()
	out, _, err := execute(t, "--status", srv.URL+"/status")
	if err != nil || !strings.Contains(out, "shop") {
		t.Errorf("from %s/status: %v\n%s", srv.URL, err, out)
	}
	_, _, err = execute(t, "--status", srv.URL+"/broken")
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "apiserver unreachable") {
		t.Errorf("a failing server: error %v, want the status code and the server's message", err)
	}
}
