package advisor

// Least-privilege accounting: what the target rules allow, per workload,
// against the distinct pairs observed.

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
					set[allowKey{id, anyPortKey}] = struct{}{}
					continue
				}
				for _, pk := range s.ports {
					set[allowKey{id, pk}] = struct{}{}
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

func (b *builder) allows(set map[allowKey]struct{}, id string, pk portKey) bool {
	if _, ok := set[allowKey{id, pk}]; ok {
		return true
	}
	_, ok := set[allowKey{id, anyPortKey}]
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

type pairKey struct {
	src, dst string
	pk       portKey
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

func (b *builder) newPairCounter(ns string, edges int) *pairCounter {
	return &pairCounter{b: b, ns: ns, seen: make(map[pairKey]struct{}, edges)}
}

// add counts an allowed edge with known ends.
func (pc *pairCounter) add(srcs, dsts []peer, pk portKey) {
	ns := pc.ns
	srcID := srcs[0].id()
	s := classOfPeer(srcs[0])
	srcProposed := s != nil && pc.b.proposed[s.ns]
	for _, dp := range dsts {
		k := pairKey{srcID, dp.id(), pk}
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
	proposedClass := func(id string) (*class, bool) {
		c := b.ix.byID[id]
		return c, c != nil && b.proposed[c.ns]
	}
	for _, wl := range n.workloads {
		for entry := range b.allow[wl].in {
			src, isProposed := proposedClass(entry.peer)
			for _, d := range wl.classes {
				if !isProposed {
					count++
					continue
				}
				if _, ok := b.allow[src.wl].out[allowKey{d.id, entry.pk}]; ok {
					count++
				} else if _, ok := b.allow[src.wl].out[allowKey{d.id, anyPortKey}]; ok {
					count++
				}
			}
		}
		for entry := range b.allow[wl].out {
			if _, ok := proposedClass(entry.peer); ok {
				continue // counted on the destination's ingress side
			}
			count += len(wl.classes)
		}
	}
	return count
}
