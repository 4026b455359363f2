package flows

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := New(cmdutil.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func capturesDir(t *testing.T) string {
	return filepath.Join(testenv.SharedDir(t), "testdata", "hubble")
}

func TestSummarizeTable(t *testing.T) {
	out, errOut, err := run(t, "", "summarize", "--flows", capturesDir(t))
	if err != nil {
		t.Fatal(err, errOut)
	}
	for _, want := range []string{
		"kube-system/node-local-dns", "kube-system/kube-dns", "53/TCP", "165", "egress 67",
		"bookinfo/ratings-v1", "reserved:world", "GET /productpage ×35", "reserved:host",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	want := "lines read: 688, flows used: 345, replies folded: 343, non-flow responses: 0, lost events: 0, malformed lines skipped: 0"
	if !strings.Contains(errOut, want) || strings.Contains(out, "lines read") {
		t.Errorf("footer on stderr should say %q; stderr:\n%s", want, errOut)
	}
}

func TestSummarizeNamespaceJSON(t *testing.T) {
	out, _, err := run(t, "", "summarize", "--flows", capturesDir(t), "-n", "bookinfo", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		rec, err := flow.DecodeRecord(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if rec.Edge == nil || (rec.Edge.Source.Namespace != "bookinfo" && rec.Edge.Destination.Namespace != "bookinfo") {
			t.Errorf("edge outside bookinfo: %+v", rec.Edge)
		}
		n++
	}
	// bookinfo: host->reviews, prometheus->reviews, productpage->world, ratings->world.
	if n != 4 {
		t.Errorf("%d bookinfo edges, want 4:\n%s", n, out)
	}
}

func TestSummarizeBadInput(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(capturesDir(t), "basic-sample-10-flows.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := string(good) + "{\"flow\":{\"l4\":{\"TCP\":{\"destination_port\":\"x\"}}}}\n\x00garbage\n"
	out, errOut, err := run(t, in, "summarize", "--flows", "-")
	if err != nil {
		t.Fatalf("non-strict run failed: %v", err)
	}
	if !strings.Contains(errOut, "malformed lines skipped: 2") || !strings.Contains(errOut, "first malformed line: -:11: field flow.l4.TCP.destination_port") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if !strings.Contains(out, "bookinfo/reviews-v1") {
		t.Errorf("good lines not used:\n%s", out)
	}

	out, errOut, err = run(t, in, "summarize", "--flows", "-", "--strict")
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("strict: err %v, want exit 1", err)
	}
	if out != "" || !strings.Contains(errOut, "-:11: field flow.l4.TCP.destination_port: want unsigned integer") {
		t.Errorf("strict output %q, stderr %q", out, errOut)
	}

	if _, _, err := run(t, "", "summarize"); err == nil {
		t.Error("no --flows: no error")
	}
}
