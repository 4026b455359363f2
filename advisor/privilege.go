package advisor

// Least-privilege accounting: what the target rules allow, per workload,
// against the distinct pairs observed.

import (
	"net/netip"
	"slices"

	"github.com/posture-dev/posture/flow"
)

// Peers are counted by number rather than by id string: the known classes
// first (class.num), then the known names, then the known addresses, then
// anything else in order of first use. Equal ids get equal numbers.

func (b *builder) nameNum(i int) uint32 { return uint32(len(b.ix.classes) + i) }

func (b *builder) ipNum(i int) uint32 {
	return uint32(len(b.ix.classes) + len(b.knownNames) + i)
}

func (b *builder) peerNum(p peer) uint32 {
	switch p.kind {
	case peerPod:
		return p.cls.num
	case peerFQDN:
		if i, ok := slices.BinarySearch(b.knownNames, p.name); ok {
			return b.nameNum(i)
		}
	case peerCIDR:
		if i, ok := slices.BinarySearchFunc(b.knownIPs, p.ip, netip.Addr.Compare); ok {
			return b.ipNum(i)
		}
	}
	id := p.id()
	b.otherMu.Lock()
	defer b.otherMu.Unlock()
	n, ok := b.otherNums[id]
	if !ok {
		n = b.ipNum(len(b.knownIPs) + len(b.otherNums))
		b.otherNums[id] = n
	}
	return n
}

// allowKey is one peer number on one port: the peer in the high 32 bits,
// then the protocol and the port. anyPortKey stands for every port.
type allowKey uint64

func newAllowKey(peer uint32, pk portKey) allowKey {
	return allowKey(uint64(peer)<<32 | uint64(protoNum(pk.proto))<<16 | uint64(pk.port))
}

// protoNum numbers the protocols a portKey holds (edgePort's and "*").
func protoNum(p flow.Protocol) uint8 {
	switch p {
	case "":
		return 0
	case flow.ProtoTCP:
		return 1
	case flow.ProtoUDP:
		return 2
	case flow.ProtoSCTP:
		return 3
	case flow.ProtoICMP:
		return 4
	case flow.ProtoICMPv6:
		return 5
	case anyPortKey.proto:
		return 6
	}
	return 7 // not reached: edgePort knows no other protocol
}

// account records what the workload's target rules allow.
// The per-workload sets exist before namespaces are proposed in parallel,
// and only the workload's own namespace writes them.
func (b *builder) account(a *nsAcc, d *wlDocs, dnsSpecs []ruleSpec) {
	size := func(specs []ruleSpec) int {
		n := 0
		for i := range specs {
			n += len(specs[i].allowed) * max(1, len(specs[i].ports))
		}
		return n
	}
	nIn, nOut := 0, size(dnsSpecs)
	for _, specs := range d.in {
		nIn += size(specs)
	}
	for _, specs := range d.out {
		nOut += size(specs)
	}
	sets := b.allow[d.wl]
	sets.in, sets.out = make(map[allowKey]struct{}, nIn), make(map[allowKey]struct{}, nOut)
	fill := func(set map[allowKey]struct{}, specs []ruleSpec) {
		for i := range specs {
			s := &specs[i]
			anyP := anyPort(s.ports)
			for _, id := range s.allowed {
				if anyP {
					set[newAllowKey(id, anyPortKey)] = struct{}{}
					continue
				}
				for _, pk := range s.ports {
					set[newAllowKey(id, pk)] = struct{}{}
				}
			}
		}
	}
	for _, specs := range d.in {
		fill(sets.in, specs)
	}
	for _, specs := range d.out {
		fill(sets.out, specs)
	}
	fill(sets.out, dnsSpecs) // the namespace-wide DNS allowance selects every pod
}

func (b *builder) allows(set map[allowKey]struct{}, num uint32, pk portKey) bool {
	if _, ok := set[newAllowKey(num, pk)]; ok {
		return true
	}
	_, ok := set[newAllowKey(num, anyPortKey)]
	return ok
}

// observer holds the global totals of the edges touching proposed
// namespaces and the distinct observed pairs, counted per namespace.
type observer struct {
	edges int
	flows uint64
	pairs int
	// nsPairs are, per namespace in proposal order, the observed pairs
	// with an end in it (a pair within it counted once).
	nsPairs []int
}

// pairKey is a source number and a destination allowKey.
type pairKey struct {
	src uint32
	dst allowKey
}

// pairCounter counts the distinct (source, destination, port) pairs of
// the allowed edges filed under ns: those with an end in ns (nsCount), and
// those ns owns in the global count (owned: the source's namespace when
// the source is a proposed pod, else the destination's), so that summing
// owned over namespaces counts every pair once. One namespace's set at a
// time stays small where one global set would hold every pair.
// Verification feeds it the edges it checks, so they are read once.
type pairCounter struct {
	b              *builder
	ns             string
	seen           map[pairKey]struct{}
	nsCount, owned int
}

// newPairCounter makes a counter a worker reuses for its namespaces.
func (b *builder) newPairCounter(edges int) *pairCounter {
	return &pairCounter{b: b, seen: make(map[pairKey]struct{}, edges)}
}

// reset starts counting for ns.
func (pc *pairCounter) reset(ns string) {
	pc.ns, pc.nsCount, pc.owned = ns, 0, 0
	clear(pc.seen)
}

// add counts an allowed edge with known ends.
func (pc *pairCounter) add(srcs, dsts []peer, pk portKey) {
	ns := pc.ns
	srcNum := pc.b.peerNum(srcs[0])
	s := classOfPeer(srcs[0])
	srcProposed := s != nil && pc.b.proposed[s.ns]
	for _, dp := range dsts {
		k := pairKey{srcNum, newAllowKey(pc.b.peerNum(dp), pk)}
		if _, ok := pc.seen[k]; ok {
			continue
		}
		pc.seen[k] = struct{}{}
		d := classOfPeer(dp)
		dstHere := d != nil && d.ns == ns && (s == nil || s.ns != d.ns)
		if srcProposed && s.ns == ns || dstHere {
			pc.nsCount++
		}
		if srcProposed && s.ns == ns || !srcProposed && d != nil && d.ns == ns {
			pc.owned++
		}
	}
}

// classOfPeer is the class of a pod peer, else nil.
func classOfPeer(p peer) *class {
	if p.kind == peerPod {
		return p.cls
	}
	return nil
}

// allowedPairs counts (source, destination, port) triples over the known
// identities, names and addresses that the target set allows, for pairs
// with at least one end in ns. A pair between two proposed workloads needs
// both the source's egress and the destination's ingress.
func (b *builder) allowedPairs(ns string) int {
	n := b.ix.ns[ns]
	count := 0
	proposedClass := func(k allowKey) (*class, bool) {
		if num := int(k >> 32); num < len(b.ix.classes) {
			c := b.ix.classes[num]
			return c, b.proposed[c.ns]
		}
		return nil, false
	}
	const low = 1<<32 - 1 // protocol and port
	anyPort := newAllowKey(0, anyPortKey)
	for _, wl := range n.workloads {
		for entry := range b.allow[wl].in {
			src, isProposed := proposedClass(entry)
			for _, d := range wl.classes {
				if !isProposed {
					count++
					continue
				}
				dk := allowKey(d.num) << 32
				if _, ok := b.allow[src.wl].out[dk|entry&low]; ok {
					count++
				} else if _, ok := b.allow[src.wl].out[dk|anyPort]; ok {
					count++
				}
			}
		}
		for entry := range b.allow[wl].out {
			if _, ok := proposedClass(entry); ok {
				continue // counted on the destination's ingress side
			}
			count += len(wl.classes)
		}
	}
	return count
}
