//go:build linux

package recorder

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testbed"
	"github.com/posture-dev/posture/internal/testenv"
	"github.com/posture-dev/posture/policy"
)

const stagedPolicies = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: web
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: web
  ingress:
  - fromEndpoints:
    - matchLabels:
        app: client
    toPorts:
    - ports:
      - port: "8080"
        protocol: TCP
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: client
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: client
  egress:
  - toEndpoints:
    - matchLabels:
        app: web
    toPorts:
    - ports:
      - port: "8080"
        protocol: TCP
  - toEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: kube-system
        k8s-app: kube-dns
    toPorts:
    - ports:
      - port: "53"
        protocol: UDP
      rules:
        dns:
        - matchPattern: "*"
  - toFQDNs:
    - matchName: api.example.test
    toPorts:
    - ports:
      - port: "80"
        protocol: TCP
`

// bed is a running test bed with the agent attached.
type bed struct {
	*testbed.Bed
	dns, web, client, external *testbed.Pod
	rec                        *Recorder
	out                        string
	policies                   string
	stop                       func() error
}

func endpointsYAML(b *testbed.Bed, dnsPod, web, client *testbed.Pod) string {
	return fmt.Sprintf(`endpoints:
- namespace: kube-system
  pod: coredns-7d8f9-abcde
  workload: coredns
  ips: [%s]
  labels: {k8s-app: kube-dns, pod-template-hash: 7d8f9}
  namespaceLabels: {kubernetes.io/metadata.name: kube-system}
  serviceAccount: coredns
  interface: %s
- namespace: shop
  pod: web-5d9c7-x1
  workload: web
  ips: [%s, %s]
  labels: {app: web, pod-template-hash: 5d9c7}
  namespaceLabels: {kubernetes.io/metadata.name: shop}
  serviceAccount: web
  interface: %s
- namespace: shop
  pod: client-6f4b2-y2
  workload: client
  ips: [%s, %s]
  labels: {app: client}
  namespaceLabels: {kubernetes.io/metadata.name: shop}
  serviceAccount: client
  interface: %s
`, dnsPod.IPv4, dnsPod.HostIf, web.IPv4, web.IPv6, web.HostIf, client.IPv4, client.IPv6, client.HostIf)
}

// newBed builds four pods (dns, web, client, and an "external" server the
// agent does not know, so it is world) and starts the agent on the first
// three. The agent's maps are pinned on a private bpffs.
func newBed(t *testing.T, opts ...func(*Config)) *bed {
	t.Helper()
	testenv.RequireRoot(t)
	tb, err := testbed.New(4)
	if err != nil {
		t.Fatalf("building test bed: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("tearing down test bed: %v", err)
		}
		for _, n := range []string{tb.Prefix + "-node", tb.Prefix + "-p0"} {
			if _, err := os.Stat("/var/run/netns/" + n); err == nil {
				t.Errorf("netns %s left behind", n)
			}
		}
	})
	b := &bed{Bed: tb, dns: tb.Pods[0], web: tb.Pods[1], client: tb.Pods[2], external: tb.Pods[3]}
	dir := t.TempDir()
	eps := filepath.Join(dir, "endpoints.yaml")
	if err := os.WriteFile(eps, []byte(endpointsYAML(tb, b.dns, b.web, b.client)), 0o600); err != nil {
		t.Fatal(err)
	}
	b.policies = filepath.Join(dir, "policies")
	if err := os.MkdirAll(b.policies, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.policies, "staged.yaml"), []byte(stagedPolicies), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := filepath.Join(dir, "bpffs")
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	b.out = filepath.Join(dir, "edges.jsonl")
	cfg := Config{
		Source:      FileSource{Path: eps, Poll: 100 * time.Millisecond},
		PoliciesDir: b.policies,
		Out:         b.out,
		Interval:    200 * time.Millisecond,
		PinPath:     filepath.Join(fs, "posture"),
		NetNS:       tb.Node.Path(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	b.start(t, cfg)

	serveDNS(t, b.dns, map[string]netip.Addr{"api.example.test.": b.external.IPv4, "web.shop.test.": b.web.IPv4})
	serveHTTP(t, b.web, 8080, 9090)
	serveHTTP(t, b.external, 80)
	return b
}

func (b *bed) start(t *testing.T, cfg Config) {
	t.Helper()
	rec, err := New(cfg)
	if err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	stopped := false
	b.rec = rec
	b.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		return errorsJoin(err, rec.Close())
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("stopping agent: %v", err)
		}
	})
	waitFor(t, "agent attached to 3 pods", 10*time.Second, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.attached) == 3 && rec.engine != nil
	})
}

// edgeView is what the test asserts about an edge.
type edgeView struct {
	From, To  string
	Proto     flow.Protocol
	Port      uint16
	Flows     uint64
	Egress    uint64
	Ingress   uint64
	Audit     uint64
	Forwarded uint64
	Names     string
}

func viewOf(e flow.Edge) edgeView {
	name := func(ep flow.Endpoint) string {
		if ep.IsPod() {
			app, _ := ep.Labels.Get("app")
			if app == "" {
				app, _ = ep.Labels.Get("k8s-app")
			}
			return ep.Namespace + "/" + app
		}
		return "world"
	}
	return edgeView{
		From: name(e.Source), To: name(e.Destination), Proto: e.Protocol, Port: e.Port,
		Flows: e.Flows, Egress: e.ObservedEgress, Ingress: e.ObservedIngress,
		Audit: e.Verdicts.Get(flow.VerdictAudit), Forwarded: e.Verdicts.Get(flow.VerdictForwarded),
		Names: strings.Join(e.DNSNames, ","),
	}
}

func readEdges(t *testing.T, path string) []flow.Edge {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []flow.Edge
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, flow.MaxLineBytes), flow.MaxLineBytes)
	for sc.Scan() {
		r, err := flow.DecodeRecord(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, *r.Edge)
	}
	return out
}

func TestAgentRecordsTestBed(t *testing.T) {
	b := newBed(t)
	c := client{b.client}

	// DNS: two UDP lookups (allowed), one over TCP (the staged set allows
	// only UDP 53: AUDIT).
	for range 2 {
		if ip := c.resolve(t, "udp", b.dns.IPv4, "api.example.test"); ip != b.external.IPv4 {
			t.Fatalf("resolved %v", ip)
		}
	}
	c.resolve(t, "tcp", b.dns.IPv4, "web.shop.test")
	waitFor(t, "the agent to learn api.example.test", 5*time.Second, func() bool {
		return slices.Contains(b.rec.dns.Names(b.external.IPv4, time.Now()), "api.example.test")
	})
	waitFor(t, "the DNS-learned address in the datapath", 5*time.Second, func() bool {
		b.rec.mu.Lock()
		defer b.rec.mu.Unlock()
		_, ok := b.rec.applied.cidrs[netip.PrefixFrom(b.external.IPv4, 32)]
		return ok
	})
	for range 5 {
		c.get(t, b.web.IPv4, 8080)
	}
	c.get(t, b.web.IPv6, 8080)
	for range 2 {
		c.get(t, b.web.IPv4, 9090) // web's ingress allows only 8080: AUDIT
	}
	c.get(t, b.external.IPv4, 80) // allowed by toFQDNs
	c.ping(t, b.web.IPv4, 4242)   // no ICMP rule: AUDIT

	st, err := b.rec.objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st[bpf.StatEventsLost] != 0 || st[bpf.StatDNSLost] != 0 {
		t.Errorf("ring buffer loss at this rate: %v", st)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	got := map[edgeView]bool{}
	var views []edgeView
	edges := readEdges(t, b.out)
	for _, e := range edges {
		v := viewOf(e)
		got[v] = true
		views = append(views, v)
	}
	want := []edgeView{
		{From: "shop/client", To: "kube-system/kube-dns", Proto: flow.ProtoUDP, Port: 53, Flows: 2, Egress: 2, Ingress: 2, Forwarded: 2},
		{From: "shop/client", To: "kube-system/kube-dns", Proto: flow.ProtoTCP, Port: 53, Flows: 1, Egress: 1, Ingress: 1, Audit: 1},
		{From: "shop/client", To: "shop/web", Proto: flow.ProtoTCP, Port: 8080, Flows: 6, Egress: 6, Ingress: 6, Forwarded: 6},
		{From: "shop/client", To: "shop/web", Proto: flow.ProtoTCP, Port: 9090, Flows: 2, Egress: 2, Ingress: 2, Audit: 2},
		{From: "shop/client", To: "shop/web", Proto: flow.ProtoICMP, Port: 8, Flows: 1, Egress: 1, Ingress: 1, Audit: 1},
		{From: "shop/client", To: "world", Proto: flow.ProtoTCP, Port: 80, Flows: 1, Egress: 1, Forwarded: 1, Names: "api.example.test"},
	}
	sort.Slice(views, func(i, j int) bool { return fmt.Sprint(views[i]) < fmt.Sprint(views[j]) })
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing edge %+v", w)
		}
	}
	if len(edges) != len(want) {
		t.Errorf("%d edges, want %d", len(edges), len(want))
	}
	if t.Failed() {
		for _, v := range views {
			t.Logf("got %+v", v)
		}
	}

	// The datapath's AUDIT tags agree with the evaluator on every edge.
	ps, err := policy.LoadPath(b.policies)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(ps, policy.CompileOptions{AsEnforced: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edges {
		for _, f := range e.Representatives() {
			denied := !eng.Evaluate(&f).Verdict.Allows()
			if audit := e.Verdicts.Get(flow.VerdictAudit) > 0; audit != denied {
				t.Errorf("edge %+v: audit=%v, evaluator denies=%v", viewOf(e), audit, denied)
			}
		}
	}
	// identities follow flow's label rules (pod-template-hash dropped)
	for _, e := range edges {
		if e.Destination.IsPod() && e.Destination.Labels.Has(flow.SourceAny, "pod-template-hash") {
			t.Errorf("identity keeps pod-template-hash: %v", e.Destination.Labels)
		}
	}
}
