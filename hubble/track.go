package hubble

import (
	"hash/maphash"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Tracker decides what each Hubble event adds to its edge. Hubble reports
// one packet several times (at each trace point it passes: FROM_ENDPOINT,
// TO_STACK, TO_ENDPOINT, ...; once at the client's egress and again at the
// server's ingress; again as a policy-verdict event) and every packet of a
// connection. Counting events would make a chatty connection look like
// many, and a connection seen at both ends look like two. The tracker
// counts units of permission instead:
//
//   - a connection is its 5-tuple plus the two identities, with the reply
//     direction folded onto the request direction; the first non-reply
//     event of a connection counts one flow, wherever it was observed;
//   - a connection ends after Cilium's conntrack lifetimes of inactivity
//     (6 h TCP, 60 s otherwise) or, for TCP, when a SYN follows a FIN or
//     RST on the same tuple (port reuse);
//   - L7 requests (HTTP, DNS through the proxy) on one connection count
//     max(1, requests) flows, with requests counted at the first
//     observation point that saw one, so a request logged by both the
//     client's and the server's proxy counts once;
//   - a connection is counted at most once per observation point
//     (ObservedEgress/ObservedIngress), and each verdict it met is tallied
//     once per connection (a request forwarded at egress and dropped at
//     ingress tallies both).
//
// Memory is bounded: connections live in two generations of at most
// MaxConnections/2 entries; a connection idle for a whole generation is
// forgotten and would count again if it reappeared.
type Tracker struct {
	MaxConnections int
	TCPLifetime    time.Duration
	OtherLifetime  time.Duration

	seed      maphash.Seed
	cur, prev map[uint64]conn
}

// Conntrack lifetimes Cilium uses by default (bpf-ct-timeout-regular-*).
const (
	DefaultTCPLifetime   = 6 * time.Hour
	DefaultOtherLifetime = 60 * time.Second
	DefaultMaxConns      = 1 << 16
)

// NewTracker returns a tracker with Cilium's default lifetimes.
func NewTracker() *Tracker {
	return &Tracker{
		MaxConnections: DefaultMaxConns,
		TCPLifetime:    DefaultTCPLifetime,
		OtherLifetime:  DefaultOtherLifetime,
		seed:           maphash.MakeSeed(),
		cur:            map[uint64]conn{},
	}
}

type connKey struct {
	srcIP, dstIP     string
	srcPort, dstPort uint16
	proto            flow.Protocol
	srcID, dstID     flow.Identity
}

// conn is kept small (the tracker holds up to 65,536): connections are
// remembered by a 64-bit hash of their connKey, where a collision between
// two live connections (odds around 1e-10 at full size) would merge them.
type conn struct {
	last     int64  // unix nanoseconds; 0 unknown
	units    uint32 // flows counted for this connection
	l7reqs   uint32 // L7 requests seen at l7dir
	l7dir    flow.Direction
	verdicts uint8
	counted  bool
	closed   bool
	egress   bool
	ingress  bool
}

func verdictBit(v flow.Verdict) uint8 {
	switch v {
	case flow.VerdictForwarded:
		return 1
	case flow.VerdictDropped:
		return 2
	case flow.VerdictAudit:
		return 4
	case flow.VerdictRedirected:
		return 8
	case flow.VerdictError:
		return 16
	}
	return 0
}

// Observe returns what r's flow adds to its edge and remembers the event.
// Replies add nothing (the aggregator counts them as folded).
func (t *Tracker) Observe(r *Response) flow.Counts {
	f := &r.Flow
	if f.Source.IP == "" && f.Destination.IP == "" {
		// Nothing identifies the connection: every event is one.
		if f.IsReply {
			return flow.Counts{}
		}
		return flow.CountsOf(f)
	}
	k := connKey{
		srcIP: f.Source.IP, dstIP: f.Destination.IP,
		srcPort: f.SrcPort, dstPort: f.Port(),
		proto: f.Protocol,
		srcID: f.Source.Identity, dstID: f.Destination.Identity,
	}
	if f.Protocol == flow.ProtoICMP || f.Protocol == flow.ProtoICMPv6 {
		k.srcPort = 0
	}
	if f.IsReply {
		k.srcIP, k.dstIP = k.dstIP, k.srcIP
		k.srcPort, k.dstPort = f.DstPort, f.SrcPort
		k.srcID, k.dstID = k.dstID, k.srcID
	}
	h := maphash.Comparable(t.seed, k)
	c, ok := t.lookup(h)
	life := t.OtherLifetime
	if f.Protocol == flow.ProtoTCP {
		life = t.TCPLifetime
	}
	var now int64
	if !f.Time.IsZero() {
		now = f.Time.UnixNano()
	}
	syn := r.TCPFlags&(FlagSYN|FlagACK) == FlagSYN
	if ok && ((now != 0 && c.last != 0 && time.Duration(now-c.last) > life) || (syn && !f.IsReply && c.closed)) {
		ok = false
	}
	if !ok {
		c = conn{}
	}
	if now > c.last {
		c.last = now
	}
	if r.TCPFlags&(FlagFIN|FlagRST) != 0 {
		c.closed = true
	}
	var out flow.Counts
	if !f.IsReply {
		if !c.counted {
			c.counted, c.units = true, 1
			out.Flows = 1
		}
		if f.Event == flow.EventL7 && isRequest(f) {
			if c.l7dir == flow.DirectionUnknown {
				c.l7dir = f.Direction
			}
			if f.Direction == c.l7dir {
				c.l7reqs++
				out.Requests = 1
				if c.l7reqs > c.units {
					c.units++
					out.Flows++
				}
			}
		}
		switch f.Direction {
		case flow.DirectionEgress:
			if !c.egress {
				c.egress, out.Egress = true, 1
			}
		case flow.DirectionIngress:
			if !c.ingress {
				c.ingress, out.Ingress = true, 1
			}
		}
		if vb := verdictBit(f.Verdict); vb != 0 && (out.Flows > 0 || c.verdicts&vb == 0) {
			c.verdicts |= vb
			out.Verdict = 1
		}
	}
	t.store(h, c)
	return out
}

func isRequest(f *flow.Flow) bool {
	if f.DNS != nil {
		return !f.DNS.Response
	}
	return f.HTTP != nil && f.HTTP.Method != "" && f.HTTP.Code == 0
}

func (t *Tracker) lookup(k uint64) (conn, bool) {
	if c, ok := t.cur[k]; ok {
		return c, true
	}
	if c, ok := t.prev[k]; ok {
		delete(t.prev, k)
		return c, true
	}
	return conn{}, false
}

func (t *Tracker) store(k uint64, c conn) {
	if _, ok := t.cur[k]; !ok && len(t.cur) >= max(t.MaxConnections/2, 1) {
		// Recycle the old generation's map: a fresh one per swap was most
		// of the garbage a long stream made.
		old := t.prev
		if old == nil {
			old = make(map[uint64]conn, len(t.cur))
		}
		clear(old)
		t.prev, t.cur = t.cur, old
	}
	t.cur[k] = c
}

// Len is the number of connections remembered.
func (t *Tracker) Len() int { return len(t.cur) + len(t.prev) }
