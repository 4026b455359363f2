package synth

import (
	"bytes"
	"testing"

	"github.com/posture-dev/posture/flow"
)

func TestShopDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	if err := WriteFlows(&a, Shop(1)); err != nil {
		t.Fatal(err)
	}
	if err := WriteFlows(&b, Shop(1)); err != nil {
		t.Fatal(err)
	}
	if err := WriteFlows(&c, Shop(2)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same seed gave different flows")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("different seeds gave the same flows")
	}
}

// TestShopTopology checks the shop has what the demo and tests rely on.
func TestShopTopology(t *testing.T) {
	fs := Shop(1)
	namespaces := map[string]bool{}
	jobs := map[string]bool{}
	var named, apiserver, probes, dropped, replies, queries int
	for _, f := range fs {
		for _, ep := range []flow.Endpoint{f.Source, f.Destination} {
			if ep.Namespace != "" {
				namespaces[ep.Namespace] = true
			}
			if v, ok := ep.Labels.Get("job-name"); ok {
				jobs[v] = true
			}
		}
		switch {
		case len(f.Destination.Names) > 0:
			named++
		case f.Destination.Identity == flow.IdentityKubeAPIServer:
			apiserver++
		case f.Source.Identity == flow.IdentityHost:
			probes++
		}
		if f.Verdict == flow.VerdictDropped {
			dropped++
		}
		if f.IsReply {
			replies++
		}
		if f.DNS != nil && f.DNS.Query != "" && !f.DNS.Response {
			queries++
		}
	}
	for _, ns := range Namespaces() {
		if !namespaces[ns] {
			t.Errorf("no flows in namespace %s", ns)
		}
	}
	if len(jobs) != Days {
		t.Errorf("%d CronJob runs, want one a day (%d)", len(jobs), Days)
	}
	for name, n := range map[string]int{"by DNS name": named, "kube-apiserver": apiserver, "host probes": probes,
		"dropped": dropped, "replies": replies, "DNS queries": queries} {
		if n == 0 {
			t.Errorf("no %s flows", name)
		}
	}
}

func TestTopologySize(t *testing.T) {
	es := Topology(1, Config{Namespaces: 3, Workloads: 5, Edges: 200, CrossNamespace: 0.2, External: 0.2, Platform: 0.2})
	if len(es) < 150 || len(es) > 200 {
		t.Fatalf("%d edges, want about 200", len(es))
	}
	again := Topology(1, Config{Namespaces: 3, Workloads: 5, Edges: 200, CrossNamespace: 0.2, External: 0.2, Platform: 0.2})
	for i := range es {
		if es[i].Source.Identity != again[i].Source.Identity || es[i].Port != again[i].Port {
			t.Fatal("not deterministic")
		}
	}
}
