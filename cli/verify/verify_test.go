package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

const paymentsPolicy = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: payments-api-policy
  namespace: payments
spec:
  endpointSelector:
    matchLabels:
      app: api
  ingress:
  - fromEndpoints:
    - matchLabels:
        app: web
    toPorts:
    - ports:
      - port: "8080"
        protocol: TCP
      rules:
        http:
        - method: GET
          path: ^/public/.*$
  egress:
  - toEntities: [ cluster ]
  - toCIDRSet:
    - cidr: 203.0.113.0/24
      except:
      - 203.0.113.128/25
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: api-deny-metadata
  namespace: payments
spec:
  endpointSelector:
    matchLabels:
      app: api
  enableDefaultDeny:
    egress: false
  egressDeny:
  - toCIDR: [ 169.254.169.254/32 ]
`

func pod(ns, name string, labels ...string) flow.Endpoint {
	ls := append([]string{"k8s:io.kubernetes.pod.namespace=" + ns}, labels...)
	return flow.Endpoint{Namespace: ns, Pod: name, Labels: flow.NewLabels(ls...)}
}

func writeEvidence(t *testing.T, dir string) string {
	t.Helper()
	api := pod("payments", "api-1", "k8s:app=api")
	web := pod("payments", "web-1", "k8s:app=web")
	worldEP := func(ip string) flow.Endpoint {
		return flow.Endpoint{Identity: flow.IdentityWorld, IP: ip, Labels: flow.NewLabels("reserved:world")}
	}
	get := &flow.Flow{Source: web, Destination: api, Protocol: flow.ProtoTCP, DstPort: 8080,
		HTTP: &flow.HTTP{Method: "GET", Path: "/public/a"}}
	post := &flow.Flow{Source: web, Destination: api, Protocol: flow.ProtoTCP, DstPort: 8080,
		HTTP: &flow.HTTP{Method: "POST", Path: "/public/a"}}
	var buf bytes.Buffer
	w := flow.NewWriter(&buf)
	for _, f := range []*flow.Flow{
		get,  // allowed at both ends
		post, // rejected by the HTTP rules
		{Source: api, Destination: worldEP("203.0.113.7"), Protocol: flow.ProtoTCP, DstPort: 443, Count: 3},   // allowed, 3 flows
		{Source: api, Destination: worldEP("203.0.113.200"), Protocol: flow.ProtoTCP, DstPort: 443},           // except range
		{Source: api, Destination: worldEP("169.254.169.254"), Protocol: flow.ProtoTCP, DstPort: 80},          // deny rule
		{Source: api, Destination: web, Protocol: flow.ProtoTCP, DstPort: 9000, IsReply: true},                // reply
		{Source: pod("shop", "x-1", "k8s:app=web"), Destination: api, Protocol: flow.ProtoTCP, DstPort: 8080}, // other namespace
	} {
		if err := w.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
	}
	e := flow.Edge{Source: pod("payments", "", "k8s:app=api"), Destination: pod("kube-system", "", "k8s:k8s-app=kube-dns"),
		Protocol: flow.ProtoUDP, Port: 53, Flows: 10}
	if err := w.WriteEdge(&e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "evidence.jsonl")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := New(cmdutil.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestVerifyTable(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "payments.yaml"), []byte(paymentsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := writeEvidence(t, dir)

	out, _, err := run(t, "--policies", pol, "--flows", ev)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Allowed: GET (1) + world 203.0.113.7 (3) + DNS edge (10) = 14; the reply is
	// listed but weighs nothing (it is part of a connection already counted).
	// Denied: POST, except range, metadata deny, other namespace = 4.
	if last := lines[len(lines)-1]; last != "14 allowed, 4 denied" {
		t.Errorf("last line %q\n%s", last, out)
	}
	if len(lines) != 1+8+1 {
		t.Errorf("want header, 8 rows and the summary; got\n%s", out)
	}
	for _, want := range []string{
		"ingress: payments/payments-api-policy ingress[0]",
		"payments/api-deny-metadata egressDeny[0]",
		"proxy would reject",
		"connection tracking",
		"payments/app=api",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	_, _, err = run(t, "--policies", pol, "--flows", ev, "--fail-on-deny")
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Errorf("--fail-on-deny: err %v, want exit 1", err)
	}

	out, _, err = run(t, "--policies", pol, "--flows", ev, "--denied-only")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 1+4+1 || lines[5] != "14 allowed, 4 denied" {
		t.Errorf("--denied-only: %v\n%s", err, out)
	}
	if strings.Contains(out, "connection tracking") {
		t.Errorf("--denied-only listed an allowed flow:\n%s", out)
	}

	// As enforced, the metadata deny policy's enableDefaultDeny false no
	// longer matters here; the verdicts stay the same.
	out, _, err = run(t, "--policies", pol, "--flows", ev, "--as-enforced")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "14 allowed, 4 denied") {
		t.Errorf("--as-enforced: %v\n%s", err, out)
	}
}

func TestVerifyJSON(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(pol, []byte(paymentsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := writeEvidence(t, dir)
	out, errOut, err := run(t, "--policies", pol, "--flows", ev, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "14 allowed, 4 denied") {
		t.Errorf("stderr %q lacks the summary", errOut)
	}
	var rows []jsonRow
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r jsonRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8", len(rows))
	}
	if r := rows[4]; r.Verdict.String() != "denied" || len(r.Rules) != 1 || r.Rules[0] != "payments/api-deny-metadata egressDeny[0]" || r.Line != 5 {
		t.Errorf("metadata row: %+v", r)
	}
	if r := rows[0]; r.Verdict.String() != "allowed" || r.Ingress.Rules[0].Policy != "payments-api-policy" {
		t.Errorf("GET row: %+v", r)
	}
}

func TestVerifyBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(good, []byte(paymentsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := writeEvidence(t, dir)
	for name, c := range map[string]struct {
		policy, flows string
		want          string
	}{
		"unknown field":     {policy: "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a, namespace: b}\nspec:\n  endpointSelector: {}\n  deny: []\n", want: "deny"},
		"bad entity":        {policy: "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a, namespace: b}\nspec:\n  endpointSelector: {}\n  egress: [{toEntities: [wrld]}]\n", want: "wrld"},
		"missing flows":     {flows: filepath.Join(dir, "nope.jsonl"), want: "nope.jsonl"},
		"only garbage flow": {flows: "garbage", want: "no valid flow"},
	} {
		t.Run(name, func(t *testing.T) {
			p, f := good, ev
			if c.policy != "" {
				p = filepath.Join(t.TempDir(), "bad.yaml")
				if err := os.WriteFile(p, []byte(c.policy), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.flows == "garbage" {
				f = filepath.Join(t.TempDir(), "g.jsonl")
				if err := os.WriteFile(f, []byte("{not json\n\xff\xfe\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if c.flows != "" {
				f = c.flows
			}
			_, _, err := run(t, "--policies", p, "--flows", f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want mention of %q", err, c.want)
			}
		})
	}
}

// On a real Hubble capture: prometheus may only talk inside the cluster,
// so its scrapes of node addresses (reserved:world) are denied at egress
// and its scrapes of kube-system pods and the host are allowed. Hubble
// names some world-identity destinations after pods (stale IP cache);
// Cilium enforces on the identity, and so does verify.
func TestVerifyHubbleCapture(t *testing.T) {
	capture := filepath.Join(testenv.SharedDir(t), "testdata", "hubble", "basic-sample-348-http-flows.json")
	pol := filepath.Join(t.TempDir(), "prom.yaml")
	if err := os.WriteFile(pol, []byte(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: prometheus-in-cluster, namespace: istio-system}
spec:
  endpointSelector: {matchLabels: {app: prometheus}}
  egress:
  - toEntities: [cluster]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "--policies", pol, "--flows", capture, "-o", "json")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	var rows, toWorld, toCluster int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r jsonRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows++
		if !strings.HasPrefix(r.Source, "istio-system/prometheus") || strings.Contains(r.Egress.Reason, "reply") {
			continue
		}
		switch {
		case strings.HasPrefix(r.Destination, "10.") || strings.Contains(r.Destination, "world"):
			toWorld++
			if r.Verdict.String() != "default-denied" {
				t.Errorf("prometheus to %s: %v (%s)", r.Destination, r.Verdict, r.Reason)
			}
		case strings.HasPrefix(r.Destination, "kube-system/") || r.Destination == "reserved:host":
			toCluster++
			if r.Verdict.String() != "allowed" || r.Egress.Rules[0].Policy != "prometheus-in-cluster" {
				t.Errorf("prometheus to %s: %v (%s)", r.Destination, r.Verdict, r.Reason)
			}
		}
	}
	if rows != 348 || toWorld < 100 || toCluster < 25 {
		t.Errorf("rows %d, to world %d, to cluster %d", rows, toWorld, toCluster)
	}
}
