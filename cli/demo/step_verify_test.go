package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/flow"
)

func TestStepVerify(t *testing.T) {
	var out bytes.Buffer
	e := &env{s: cmdutil.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, dir: t.TempDir()}
	if err := stepVerify(context.Background(), e); err != nil || !strings.Contains(out.String(), "skipped") {
		t.Fatalf("without inputs: %v %q", err, out.String())
	}

	pol := filepath.Join(e.dir, "p.yaml")
	if err := os.WriteFile(pol, []byte(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ep := func(app string) flow.Endpoint {
		return flow.Endpoint{Namespace: "shop", Pod: app + "-1", Labels: flow.NewLabels("k8s:io.kubernetes.pod.namespace=shop", "k8s:app="+app)}
	}
	var ev bytes.Buffer
	w := flow.NewWriter(&ev)
	for _, f := range []*flow.Flow{
		{Source: ep("web"), Destination: ep("api"), Protocol: flow.ProtoTCP, DstPort: 80, Count: 5},
		{Source: ep("db"), Destination: ep("api"), Protocol: flow.ProtoTCP, DstPort: 80},
	} {
		if err := w.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	e.evidence, e.policies = filepath.Join(e.dir, "ev.jsonl"), pol
	if err := os.WriteFile(e.evidence, ev.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := stepVerify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shop/db-1", "5 allowed, 1 denied", "would deny the 1 flow(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "shop/web-1") {
		t.Errorf("allowed flow listed:\n%s", out.String())
	}
}
