package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Start is when the synthetic observation window begins.
var start = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)

// Days is the length of the synthetic observation window.
const Days = 7

// pod is a synthetic pod: its identity labels and addresses.
type pod struct {
	ep flow.Endpoint
}

// world is an address outside the cluster, optionally with a DNS name.
func world(ip string, names ...string) flow.Endpoint {
	return flow.Endpoint{Identity: flow.IdentityWorld, IP: ip, Labels: flow.ReservedLabels(flow.IdentityWorld), Names: names}
}

func entity(id flow.Identity, ip string) flow.Endpoint {
	return flow.Endpoint{Identity: id, IP: ip, Labels: flow.ReservedLabels(id)}
}

// gen builds flows deterministically from its random source.
type gen struct {
	r     *rand.Rand
	flows []flow.Flow
	ids   map[string]flow.Identity
	next  flow.Identity
	ips   int
}

func newGen(seed int64) *gen {
	return &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x706f7374757265)), ids: map[string]flow.Identity{}, next: 10000}
}

// mkPod makes one pod of a workload; identity numbers are allocated per
// distinct label set, as Cilium does.
func (g *gen) mkPod(ns, name, workload, sa string, labels, nsLabels map[string]string) flow.Endpoint {
	pi := flow.PodIdentity{Namespace: ns, ServiceAccount: sa, Cluster: "default", PodLabels: labels, NamespaceLabels: nsLabels}
	ls := pi.IdentityLabels()
	id, ok := g.ids[ls.Key()]
	if !ok {
		id = g.next
		g.next++
		g.ids[ls.Key()] = id
	}
	g.ips++
	return flow.Endpoint{
		Identity: id, Namespace: ns, Pod: name, Workload: workload, Labels: ls,
		IP: fmt.Sprintf("10.0.%d.%d", g.ips/250, g.ips%250+2),
	}
}

func (g *gen) suffix(n int) string {
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[g.r.IntN(len(letters))]
	}
	return string(b)
}

// conn is a connection seen count times, with its replies.
type conn struct {
	src, dst flow.Endpoint
	proto    flow.Protocol
	port     uint16
	at       time.Time
	count    uint64
	http     *flow.HTTP
	dns      *flow.DNS
	verdict  flow.Verdict
}

func (g *gen) emit(c conn) {
	v := c.verdict
	if v == "" {
		v = flow.VerdictForwarded
	}
	sport := uint16(32768 + g.r.IntN(28000))
	base := flow.Flow{
		Time: c.at, Node: "node-" + fmt.Sprint(1+g.r.IntN(3)), Source: c.src, Destination: c.dst,
		Protocol: c.proto, SrcPort: sport, DstPort: c.port, Verdict: v, Count: c.count, HTTP: c.http, DNS: c.dns,
	}
	if c.proto == flow.ProtoTCP {
		base.TCPFlags = "SYN"
	}
	// One record per connection, as the node agent exports it once it has
	// matched both ends: observed at the client when it is a pod.
	f := base
	f.Direction = flow.DirectionEgress
	if !c.src.IsPod() {
		f.Direction = flow.DirectionIngress
	}
	g.flows = append(g.flows, f)
	if v == flow.VerdictDropped {
		return
	}
	// The reply, as the client's end sees it.
	rep := base
	rep.Source, rep.Destination = c.dst, c.src
	rep.SrcPort, rep.DstPort = c.port, sport
	rep.IsReply = true
	rep.HTTP = nil
	if c.dns != nil {
		d := *c.dns
		d.Response = true
		rep.DNS = &d
	}
	rep.Time = c.at.Add(time.Millisecond)
	rep.Direction = flow.DirectionIngress
	rep.TCPFlags = ""
	if c.src.IsPod() {
		g.flows = append(g.flows, rep)
	}
}

// hourly spreads a connection over the window: one record per hour with
// jitter and a count.
func (g *gen) hourly(c conn, perHour int) {
	for h := 0; h < Days*24; h++ {
		c.at = start.Add(time.Duration(h)*time.Hour + time.Duration(g.r.IntN(3600))*time.Second)
		c.count = uint64(perHour/2 + g.r.IntN(perHour+1))
		g.emit(c)
	}
}

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }
