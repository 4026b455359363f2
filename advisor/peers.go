package advisor

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posture-dev/posture/flow"
)

// peerKind is what a rule names at the other end of a connection.
type peerKind int

const (
	peerPod peerKind = iota
	peerEntity
	peerFQDN
	peerCIDR
	peerUnknown
)

// peer is one end of an edge as a policy can select it.
type peer struct {
	kind   peerKind
	cls    *class
	entity string
	name   string // FQDN, lowercase, no trailing dot
	ip     netip.Addr
}

// id is a canonical key for pair counting and grouping.
func (p peer) id() string {
	switch p.kind {
	case peerPod:
		return p.cls.id
	case peerEntity:
		return "e:" + p.entity
	case peerFQDN:
		return "n:" + p.name
	case peerCIDR:
		return "ip:" + p.ip.String()
	}
	return "?"
}

// String is the human form used in evidence.
func (p peer) String() string {
	switch p.kind {
	case peerPod:
		if p.cls.wl != nil {
			return p.cls.ns + "/" + p.cls.wl.name
		}
		return p.cls.ns + "/" + p.cls.key
	case peerEntity:
		return "entity " + p.entity
	case peerFQDN:
		return p.name
	case peerCIDR:
		return p.ip.String()
	}
	return "unknown peer"
}

// entityOf returns the reserved entity an endpoint stands for, if any.
func entityOf(e *flow.Endpoint) (string, bool) {
	id := e.Identity
	if id == flow.IdentityUnknown {
		for _, l := range e.Labels {
			if l.Source == flow.SourceReserved {
				if rid, ok := flow.ReservedIdentity(l.Key); ok {
					id = rid
					break
				}
			}
		}
	}
	switch {
	case id.IsWorld():
		return "world", true
	case id.IsReserved():
		return id.ReservedName(), true
	}
	return "", false
}

// resolve turns the source or destination of an edge into peers: one for
// a pod or entity, one per name or address for the world.
func (ix *index) resolve(e *flow.Endpoint, names, ips []string) []peer {
	return ix.resolveInto(nil, e, names, ips)
}

// resolveInto is resolve appending to buf[:0], so a caller looping over
// edges allocates nothing for pods and entities.
func (ix *index) resolveInto(buf []peer, e *flow.Endpoint, names, ips []string) []peer {
	buf = buf[:0]
	// A known pod identity with the labels it was first seen with is
	// that pod's class: found before reading the labels again.
	if c := ix.knownPod(e); c != nil {
		return append(buf, peer{kind: peerPod, cls: c})
	}
	if e.IsPod() {
		if !isPod(e) {
			return append(buf, peer{kind: peerUnknown})
		}
		if c := ix.classOf(e); c != nil {
			return append(buf, peer{kind: peerPod, cls: c})
		}
		return append(buf, peer{kind: peerUnknown})
	}
	ent, isEnt := entityOf(e)
	outside := e.Identity >= flow.IdentityMinLocal || ent == "world" ||
		(!isEnt && e.Identity == flow.IdentityUnknown && outsideLabels(e.Labels))
	if outside {
		if len(names) > 0 {
			for _, n := range names {
				n = normName(n)
				if n != "" {
					buf = append(buf, peer{kind: peerFQDN, name: n})
				}
			}
			if len(buf) > 0 {
				return buf
			}
		}
		for _, s := range ips {
			if a, err := netip.ParseAddr(s); err == nil {
				buf = append(buf, peer{kind: peerCIDR, ip: a.Unmap()})
			}
		}
		if len(buf) > 0 {
			return buf
		}
		if isEnt || e.Identity >= flow.IdentityMinLocal {
			return append(buf, peer{kind: peerEntity, entity: "world"})
		}
		return append(buf, peer{kind: peerUnknown})
	}
	if isEnt {
		return append(buf, peer{kind: peerEntity, entity: ent})
	}
	return append(buf, peer{kind: peerUnknown})
}

// outsideLabels reports whether labels describe nothing but an address
// outside the cluster (none at all, or only cidr/fqdn labels): labels of
// any other kind name something posture cannot place.
func outsideLabels(ls flow.Labels) bool {
	for _, l := range ls {
		if l.Source != flow.SourceCIDR && l.Source != flow.SourceFQDN {
			return false
		}
	}
	return true
}

func normName(n string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
}

// portKey is a protocol and port (ICMP type for ICMP).
type portKey struct {
	proto flow.Protocol
	port  uint16
}

func (p portKey) String() string {
	if p.proto == flow.ProtoICMP || p.proto == flow.ProtoICMPv6 {
		return string(p.proto) + "/type-" + strconv.Itoa(int(p.port))
	}
	return strconv.Itoa(int(p.port)) + "/" + string(p.proto)
}

func (p portKey) icmp() bool { return p.proto == flow.ProtoICMP || p.proto == flow.ProtoICMPv6 }

func comparePorts(a, b portKey) int {
	return cmp.Or(strings.Compare(string(a.proto), string(b.proto)), cmp.Compare(a.port, b.port))
}

// stats is the evidence behind a rule.
type stats struct {
	flows uint64
	edges int
	first time.Time
	last  time.Time
	pods  []string
}

// podList names pods of one namespace without building "ns/pod" strings
// until an example is kept.
type podList struct {
	ns    string
	names []string
}

func (s *stats) addEdge(e *flow.Edge, pods podList, maxPods int) {
	s.flows += e.Flows
	s.edges++
	if !e.FirstSeen.IsZero() && (s.first.IsZero() || e.FirstSeen.Before(s.first)) {
		s.first = e.FirstSeen
	}
	if e.LastSeen.After(s.last) {
		s.last = e.LastSeen
	}
	for _, p := range pods.names {
		if len(s.pods) >= maxPods {
			break
		}
		full := p
		if pods.ns != "" && !strings.Contains(p, "/") {
			full = pods.ns + "/" + p
		}
		if !slices.Contains(s.pods, full) {
			s.pods = append(s.pods, full)
		}
	}
}

func (s *stats) merge(o *stats, maxPods int) {
	s.flows += o.flows
	s.edges += o.edges
	if !o.first.IsZero() && (s.first.IsZero() || o.first.Before(s.first)) {
		s.first = o.first
	}
	if o.last.After(s.last) {
		s.last = o.last
	}
	for _, p := range o.pods {
		if len(s.pods) >= maxPods {
			break
		}
		if !slices.Contains(s.pods, p) {
			s.pods = append(s.pods, p)
		}
	}
}

// text renders evidence for an annotation.
func (s *stats) text() string { return string(s.appendText(make([]byte, 0, 96))) }

func (s *stats) appendText(b []byte) []byte {
	b = strconv.AppendUint(b, s.flows, 10)
	b = append(b, " flows"...)
	if !s.first.IsZero() {
		b = append(b, ", first "...)
		b = s.first.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, ", last "...)
		b = s.last.UTC().AppendFormat(b, time.RFC3339)
	}
	if len(s.pods) > 0 {
		ps := slices.Clone(s.pods)
		slices.Sort(ps)
		b = append(b, ", e.g. "...)
		for i, p := range ps {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, p...)
		}
	}
	return b
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }
