//go:build linux

package recorder

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// With a flow table too small for the traffic, the agent lets go of the
// least recently seen flows once an export has them, as an LRU map would
// evict them, and new connections keep finding room.
func TestAgentReclaimsFlowTable(t *testing.T) {
	b := newBed(t, func(c *Config) { c.FlowEntries = 1024 })
	c := client{b.client}
	// each connection is two entries, one at either pod's interface
	const conns = 700
	for range conns {
		c.get(t, b.web.IPv4, 8080)
	}
	waitFor(t, "the table reclaimed", 5*time.Second, func() bool {
		return testutil.ToFloat64(b.rec.m.Reclaimed) > 0
	})
	waitFor(t, "the table below 90% after a scan", 5*time.Second, func() bool {
		used, capacity := b.rec.objs.TableUsage()
		return used <= capacity/10*9
	})
	c.get(t, b.web.IPv4, 9090)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	edges := readEdges(t, b.out)
	if e := edgeTo(t, edges, "web", 9090); e.Flows != 1 || e.ObservedEgress != 1 || e.ObservedIngress != 1 {
		t.Errorf("newest connection: %+v, want 1 flow seen at both ends", viewOf(e))
	}
	if e := edgeTo(t, edges, "web", 8080); e.Flows == 0 || e.Flows >= conns {
		t.Errorf("reclaimed edge: %+v, want fewer than %d flows left", viewOf(e), conns)
	}
	if n := testutil.ToFloat64(b.rec.m.Datapath.WithLabelValues("flow_update_failed")); n != 0 {
		t.Errorf("%v failed flow updates", n)
	}
}
