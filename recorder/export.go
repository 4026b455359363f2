package recorder

import (
	"net/netip"
	"time"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
)

// observation is one flow-map entry in user-space form: one connection as
// seen at one pod's interface.
type observation struct {
	Conn       bpf.Conn
	PacketsFwd uint64
	BytesFwd   uint64
	PacketsRev uint64
	BytesRev   uint64
	First      time.Time
	Last       time.Time
	SrcID      uint32
	DstID      uint32
	Verdict    uint8
	Flags      uint8
	// Conns counts connections on this 4-tuple (ports get reused).
	Conns uint32
	Names []string // DNS names of the responder when the flow started
}

// connKey identifies a connection regardless of where it was observed.
type connKey struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// endpointView resolves an address to what an edge shows of it.
type endpointView func(a netip.Addr, id uint32) flow.Endpoint

// buildEdges folds observations into edges: a connection seen at both its
// ends (two local pods) is one flow, observed at egress and at ingress.
func buildEdges(obs []observation, view endpointView) []flow.Edge {
	type conn struct {
		o       *observation
		egress  bool
		ingress bool
		audit   bool
		first   time.Time
		last    time.Time
		names   []string
		conns   uint64
	}
	// sized for every observation, most of which are connections of
	// their own: growing these was most of an export's garbage
	at := make(map[connKey]int32, len(obs)/2)
	order := make([]connKey, 0, len(obs)/2)
	all := make([]conn, 0, len(obs)/2)
	for i := range obs {
		o := &obs[i]
		k := connKey{o.Conn.Src, o.Conn.Dst, o.Conn.SrcPort, o.Conn.DstPort, o.Conn.Proto}
		j, ok := at[k]
		if !ok {
			j = int32(len(all))
			all = append(all, conn{o: o, first: o.First, last: o.Last})
			at[k] = j
			order = append(order, k)
		}
		c := &all[j]
		if o.Conn.Dir == bpf.DirEgress {
			c.egress = true
		} else {
			c.ingress = true
		}
		// both ends see the same connections; a restart can leave one
		// end's entry newer, so the larger count is the truth
		c.conns = max(c.conns, uint64(max(o.Conns, 1)))
		if o.Verdict == bpf.VerdictAudit {
			c.audit = true
		}
		if o.First.Before(c.first) {
			c.first = o.First
		}
		if o.Last.After(c.last) {
			c.last = o.Last
		}
		if len(c.names) == 0 {
			c.names = o.Names
		}
		// the egress side names the source identity authoritatively
		if o.Conn.Dir == bpf.DirEgress {
			c.o = o
		}
	}
	agg := flow.NewAggregator()
	for j, k := range order {
		c := &all[j]
		if protoName(k.Proto) == "" {
			// no policy can name it (GRE, ESP, ...): not an edge
			continue
		}
		f := flow.Flow{
			Time:        c.first,
			Source:      view(k.Src, c.o.SrcID),
			Destination: view(k.Dst, c.o.DstID),
			Protocol:    protoName(k.Proto),
			Verdict:     flow.VerdictForwarded,
		}
		switch f.Protocol {
		case flow.ProtoICMP, flow.ProtoICMPv6:
			f.ICMPType = uint8(k.DstPort)
		default:
			f.SrcPort, f.DstPort = k.SrcPort, k.DstPort
		}
		if c.audit {
			f.Verdict = flow.VerdictAudit
		}
		if !f.Destination.IsPod() {
			f.Destination.Names = c.names
		}
		cnt := flow.Counts{Flows: c.conns, Verdict: c.conns}
		if c.egress {
			f.Direction = flow.DirectionEgress
			cnt.Egress = c.conns
		}
		if c.ingress {
			if !c.egress {
				f.Direction = flow.DirectionIngress
			}
			cnt.Ingress = c.conns
		}
		agg.Observe(&f, cnt)
		if c.last.After(c.first) {
			f.Time = c.last
			agg.Observe(&f, flow.Counts{})
		}
	}
	return agg.Edges()
}

func protoName(p uint8) flow.Protocol {
	switch p {
	case bpf.ProtoTCP:
		return flow.ProtoTCP
	case bpf.ProtoUDP:
		return flow.ProtoUDP
	case bpf.ProtoSCTP:
		return flow.ProtoSCTP
	case bpf.ProtoICMP:
		return flow.ProtoICMP
	case bpf.ProtoICMPv6:
		return flow.ProtoICMPv6
	}
	return ""
}

// edgeDelta subtracts an earlier export's counts, for streaming output
// whose consumers add up edges. Counts that went down (flows evicted from
// the kernel map) give zero, not a negative.
func edgeDelta(cur flow.Edge, prev *flow.Edge) (flow.Edge, bool) {
	if prev == nil {
		return cur, cur.Flows > 0
	}
	d := cur
	sub := func(a, b uint64) uint64 {
		if a > b {
			return a - b
		}
		return 0
	}
	d.Flows = sub(cur.Flows, prev.Flows)
	d.ObservedEgress = sub(cur.ObservedEgress, prev.ObservedEgress)
	d.ObservedIngress = sub(cur.ObservedIngress, prev.ObservedIngress)
	d.Verdicts = flow.VerdictCounts{}
	for v, n := range cur.Verdicts.All() {
		if x := sub(n, prev.Verdicts.Get(v)); x > 0 {
			d.Verdicts.Add(v, x)
		}
	}
	return d, d.Flows > 0
}

// edgeID keys an edge for delta tracking.
func edgeID(e *flow.Edge) string {
	reps := e.Representatives()
	f := reps[0]
	f.Destination.IP = ""
	return flow.EdgeKey(&f)
}
