//go:build linux

package recorder

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vishvananda/netlink"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
)

// attachedPrograms counts posture's programs on a host-side interface.
func attachedPrograms(t *testing.T, b *bed, ifname string) int {
	t.Helper()
	n := 0
	err := inNetNS(b.Node.Path(), func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at})
			if err != nil {
				return err
			}
			n += len(res.Programs)
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, err := netlink.FilterList(l, parent)
			if err != nil {
				continue // no clsact qdisc
			}
			n += len(fs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func edgeTo(t *testing.T, edges []flow.Edge, app string, port uint16) flow.Edge {
	t.Helper()
	for _, e := range edges {
		if a, _ := e.Destination.Labels.Get("app"); a == app && e.Port == port {
			return e
		}
	}
	t.Fatalf("no edge to %s:%d in %d edges", app, port, len(edges))
	return flow.Edge{}
}

// TestAgentRestartKeepsCounts stops the agent (it must detach cleanly) and
// starts a new one on the same pinned maps: counts continue.
func TestAgentRestartKeepsCounts(t *testing.T) {
	var cfg Config
	b := newBed(t, func(c *Config) { cfg = *c })
	c := client{b.client}
	for range 3 {
		c.get(t, b.web.IPv4, 8080)
	}
	if n := attachedPrograms(t, b, b.web.HostIf); n != 2 {
		t.Fatalf("%d programs on %s while running, want 2", n, b.web.HostIf)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if n := attachedPrograms(t, b, b.web.HostIf); n != 0 {
		t.Fatalf("%d programs left on %s after shutdown", n, b.web.HostIf)
	}
	if e := edgeTo(t, readEdges(t, b.out), "web", 8080); e.Flows != 3 {
		t.Fatalf("before restart: %d flows", e.Flows)
	}
	for _, name := range []string{"posture_fttags", "posture_flowtab", "posture_ftpool", "posture_flows", "posture_flows4", "posture_stats"} {
		if _, err := os.Stat(filepath.Join(cfg.PinPath, name)); err != nil {
			t.Fatalf("map not pinned: %v", err)
		}
	}

	b.start(t, cfg)
	for range 2 {
		c.get(t, b.web.IPv4, 8080)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	e := edgeTo(t, readEdges(t, b.out), "web", 8080)
	if e.Flows != 5 || e.ObservedEgress != 5 || e.ObservedIngress != 5 {
		t.Fatalf("after restart: %+v, want 5 flows seen at both ends", viewOf(e))
	}
	if err := bpf.Unpin(cfg.PinPath); err != nil {
		t.Fatal(err)
	}
}

// TestAgentPolicyReloadClsact runs on legacy tc clsact hooks, starts with
// no staged policy, then stages one: later flows are tagged by it.
func TestAgentPolicyReloadClsact(t *testing.T) {
	var cfg Config
	b := newBed(t, func(c *Config) {
		c.AttachMode = bpf.AttachClsact
		cfg = *c
	})
	_ = cfg
	if n := attachedPrograms(t, b, b.web.HostIf); n != 2 {
		t.Fatalf("%d clsact filters on %s, want 2", n, b.web.HostIf)
	}
	// Stage a policy that allows nothing into web on 9090, after a first
	// connection under the initial set (already staged by newBed): audit.
	c := client{b.client}
	c.get(t, b.web.IPv4, 9090)

	// Remove the staged set: web is no longer selected.
	if err := os.Remove(filepath.Join(b.policies, "staged.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the empty staged set", 5*time.Second, func() bool {
		b.rec.mu.Lock()
		defer b.rec.mu.Unlock()
		return len(b.rec.applied.subjects) == 0
	})
	c.get(t, b.web.IPv4, 9090)
	m := b.rec.m
	if got := testutil.ToFloat64(m.PolicyReloads.WithLabelValues("ok")); got != 2 {
		t.Errorf("policy reloads %v, want 2", got)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if n := attachedPrograms(t, b, b.web.HostIf); n != 0 {
		t.Fatalf("%d filters left after shutdown", n)
	}
	e := edgeTo(t, readEdges(t, b.out), "web", 9090)
	if e.Flows != 2 || e.Verdicts.Get(flow.VerdictAudit) != 1 || e.Verdicts.Get(flow.VerdictForwarded) != 1 {
		t.Fatalf("edge %+v: want one audit (staged), one forwarded (after removal)", viewOf(e))
	}
	// metrics: web's ingress saw one audit and one not-selected flow
	if got := testutil.ToFloat64(m.Verdicts.WithLabelValues("shop", "ingress", "audit")); got != 1 {
		t.Errorf("audit verdicts at shop ingress: %v", got)
	}
	if got := testutil.ToFloat64(m.Verdicts.WithLabelValues("shop", "ingress", "not_selected")); got != 1 {
		t.Errorf("not-selected verdicts at shop ingress: %v", got)
	}
}
