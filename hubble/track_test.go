package hubble

import (
	"testing"
	"time"

	"github.com/posture-dev/posture/flow"
)

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// ev builds an event of a client (10.0.0.1:40000, identity 100) talking to
// a server (10.0.0.2:80, identity 200); reply events go the other way.
func ev(at time.Duration, dir flow.Direction, reply bool, flags uint16) *Response {
	r := &Response{TCPFlags: flags}
	f := &r.Flow
	f.Time = t0.Add(at)
	f.Protocol = flow.ProtoTCP
	f.Direction = dir
	f.Verdict = flow.VerdictForwarded
	f.Event = flow.EventTrace
	f.IsReply = reply
	c := flow.Endpoint{Identity: 100, IP: "10.0.0.1"}
	s := flow.Endpoint{Identity: 200, IP: "10.0.0.2"}
	f.Source, f.Destination, f.SrcPort, f.DstPort = c, s, 40000, 80
	if reply {
		f.Source, f.Destination, f.SrcPort, f.DstPort = s, c, 80, 40000
	}
	return r
}

func sum(t *Tracker, rs ...*Response) flow.Counts {
	var c flow.Counts
	for _, r := range rs {
		o := t.Observe(r)
		c.Flows += o.Flows
		c.Egress += o.Egress
		c.Ingress += o.Ingress
		c.Verdict += o.Verdict
		c.Requests += o.Requests
	}
	return c
}

func TestTrackerOneConnectionSeenEverywhere(t *testing.T) {
	eg, in := flow.DirectionEgress, flow.DirectionIngress
	tr := NewTracker()
	// SYN at the client's egress (two trace points) and the server's
	// ingress, the SYN-ACK reply, then data both ways, then FIN.
	got := sum(tr,
		ev(0, eg, false, FlagSYN), ev(1, eg, false, FlagSYN), ev(2, in, false, FlagSYN),
		ev(3, in, true, FlagSYN|FlagACK), ev(4, eg, true, FlagSYN|FlagACK),
		ev(5, eg, false, FlagACK|FlagPSH), ev(6, in, false, FlagACK|FlagPSH), ev(7, in, true, FlagACK),
		ev(8, eg, false, FlagFIN|FlagACK),
	)
	if want := (flow.Counts{Flows: 1, Egress: 1, Ingress: 1, Verdict: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

func TestTrackerNewConnections(t *testing.T) {
	eg := flow.DirectionEgress
	tr := NewTracker()
	// Port reuse after FIN: a new SYN is a new connection.
	if c := sum(tr, ev(0, eg, false, FlagSYN), ev(time.Second, eg, false, FlagFIN|FlagACK), ev(2*time.Second, eg, false, FlagSYN)); c.Flows != 2 {
		t.Errorf("port reuse: %d flows, want 2", c.Flows)
	}
	// Idle longer than the lifetime: a new connection.
	tr = NewTracker()
	tr.TCPLifetime = time.Minute
	if c := sum(tr, ev(0, eg, false, FlagACK), ev(2*time.Minute, eg, false, FlagACK)); c.Flows != 2 {
		t.Errorf("idle: %d flows, want 2", c.Flows)
	}
	// A connection first seen by its reply still counts when the request
	// direction shows up; a reply alone counts nothing.
	tr = NewTracker()
	if c := sum(tr, ev(0, eg, true, FlagACK)); c.Flows != 0 {
		t.Errorf("reply alone: %d flows", c.Flows)
	}
	if c := sum(tr, ev(1, eg, false, FlagACK)); c.Flows != 1 {
		t.Errorf("request after reply: %d flows, want 1", c.Flows)
	}
}

func TestTrackerL7Requests(t *testing.T) {
	eg, in := flow.DirectionEgress, flow.DirectionIngress
	tr := NewTracker()
	req := func(at time.Duration, dir flow.Direction) *Response {
		r := ev(at, dir, false, 0)
		r.Flow.Event = flow.EventL7
		r.Flow.HTTP = &flow.HTTP{Method: "GET", Path: "/"}
		return r
	}
	// The L4 connection, then three requests each logged by the client's
	// and the server's proxy: three flows, three requests.
	got := sum(tr, ev(0, eg, false, FlagSYN), req(1, eg), req(2, in), req(3, eg), req(4, in), req(5, eg), req(6, in))
	if got.Flows != 3 || got.Requests != 3 || got.Egress != 1 || got.Ingress != 1 {
		t.Errorf("counts %+v, want 3 flows, 3 requests, seen once at each end", got)
	}
}

func TestTrackerBounded(t *testing.T) {
	tr := NewTracker()
	tr.MaxConnections = 100
	for i := range 10000 {
		r := ev(time.Duration(i), flow.DirectionEgress, false, FlagSYN)
		r.Flow.SrcPort = uint16(i)
		tr.Observe(r)
	}
	if tr.Len() > 100 {
		t.Errorf("tracker holds %d connections, cap 100", tr.Len())
	}
}

func TestNames(t *testing.T) {
	n := NewNames()
	ans := &flow.Flow{Time: t0, IsReply: true, DNS: &flow.DNS{Query: "api.example.com.", IPs: []string{"192.0.2.1"}, TTL: 60, Response: true}}
	n.Learn(ans)
	nx := &flow.Flow{Time: t0, DNS: &flow.DNS{Query: "nope.example.com.", TTL: 4294967295, RCode: 3, Response: true}}
	n.Learn(nx)
	at := func(d time.Duration, ip string) []string {
		f := &flow.Flow{Time: t0.Add(d), Destination: flow.Endpoint{Identity: flow.IdentityWorld, IP: ip}}
		n.Annotate(f)
		return f.Destination.Names
	}
	if got := at(30*time.Second, "192.0.2.1"); len(got) != 1 || got[0] != "api.example.com" {
		t.Errorf("within TTL: %q", got)
	}
	if got := at(61*time.Second, "192.0.2.1"); got != nil {
		t.Errorf("after TTL: %q", got)
	}
	if got := at(0, "192.0.2.9"); got != nil {
		t.Errorf("unknown IP: %q", got)
	}
	if n.Len() != 1 {
		t.Errorf("NXDOMAIN learned: %d entries", n.Len())
	}
	// Hubble's own names win.
	f := &flow.Flow{Time: t0, Destination: flow.Endpoint{IP: "192.0.2.1", Names: []string{"cdn.example.net"}}}
	n.Annotate(f)
	if f.Destination.Names[0] != "cdn.example.net" {
		t.Errorf("overrode Hubble's names: %q", f.Destination.Names)
	}
}
