package advisor

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/posture-dev/posture/flow"
)

// builder carries what every step of a suggestion needs.
type builder struct {
	// mu guards notes and noteCounts while namespaces are proposed in
	// parallel.
	mu         sync.Mutex
	o          Options
	ix         *index
	maxPods    int
	knownNames []string
	knownIPs   []netip.Addr
	proposed   map[string]bool
	notes      []Note
	// noteCounts bounds repetitive notes per namespace and kind.
	noteCounts map[string]int
	// allow holds the "peer|port" entries each workload's target
	// rules allow, for the self-check and least-privilege accounting.
	// They are filled by the workload's own namespace only; the sets are
	// made before namespaces run in parallel so the outer maps are only
	// read then.
	allow map[*workload]*allowSets
	ends  []edgeEnds // per edge, from the first pass
	// otherNums numbers peers outside the known classes, names and
	// addresses (entities, mostly); see peerNum.
	otherMu   sync.Mutex
	otherNums map[string]uint32
}

type allowSets struct {
	in, out map[allowKey]struct{}
}

var anyPortKey = portKey{proto: "*"}

func (o Options) withDefaults() Options {
	if o.FQDNPatternSiblings <= 0 {
		o.FQDNPatternSiblings = 3
	}
	if o.CIDRAggregate <= 0 {
		o.CIDRAggregate = 3
	}
	if o.HTTPPathIDs <= 0 {
		o.HTTPPathIDs = 3
	}
	if o.ExamplePods <= 0 {
		o.ExamplePods = 3
	}
	if o.ExcludeNamespaces == nil {
		o.ExcludeNamespaces = DefaultExcludeNamespaces
	}
	return o
}

const maxNotesPerKind = 5

func (b *builder) note(ns, kind, format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := ns + "\x00" + kind
	b.noteCounts[k]++
	switch c := b.noteCounts[k]; {
	case c <= maxNotesPerKind:
		b.notes = append(b.notes, Note{Namespace: ns, Kind: kind, Text: fmt.Sprintf(format, args...)})
	case c == maxNotesPerKind+1:
		b.notes = append(b.notes, Note{Namespace: ns, Kind: kind, Text: "further notes of this kind omitted"})
	}
}

// Suggest turns edges into a proposal. It returns an error, together with
// the proposal for inspection, when the target set would deny an observed
// flow: such a proposal must not be applied.
func Suggest(edges []flow.Edge, opts Options) (*Proposal, error) {
	o := opts.withDefaults()
	p := &Proposal{}
	if len(edges) == 0 {
		p.Notes = append(p.Notes, Note{Kind: NoteNoEvidence, Text: "no evidence: no flows or edges were given, so nothing can be proposed"})
		return p, nil
	}
	b := &builder{
		o: o, ix: newIndex(), maxPods: o.ExamplePods,
		proposed: map[string]bool{}, noteCounts: map[string]int{},
		allow: map[*workload]*allowSets{}, otherNums: map[string]uint32{},
	}
	b.ix.build(collectIdentities(edges))
	b.chooseNamespaces()
	b.collectKnown(edges)

	legit, nsEdges, obs := b.fileEdges(edges)
	nss := make([]string, 0, len(b.proposed))
	for ns := range b.proposed {
		nss = append(nss, ns)
		for _, wl := range b.ix.ns[ns].workloads {
			b.allow[wl] = &allowSets{}
		}
	}
	slices.Sort(nss)
	// Namespaces are independent once the evidence is filed: propose and
	// verify them in parallel, each result in its place so the output
	// stays in order, and drop each namespace's accumulators when done.
	p.Namespaces = make([]NamespaceProposal, len(nss))
	errs := make([]error, len(nss))
	obs.nsPairs = make([]int, len(nss))
	owned := make([]int, len(nss))
	inParallel(len(nss), func() func(int) {
		var rb resolveBufs
		var checks checkList
		var slab scratch
		var pairs *pairCounter
		return func(i int) {
			ns := nss[i]
			acc := newNSAcc(b.ix.ns[ns], len(nsEdges[ns]), &slab)
			if pairs == nil {
				pairs = b.newPairCounter(len(nsEdges[ns]))
			}
			pairs.reset(ns)
			// Each edge is read once here, while it is at hand: filed for
			// the proposal, its pairs counted and its verification probes
			// kept for when the proposal is compiled.
			checks.reset()
			for _, ei := range nsEdges[ns] {
				e := &edges[ei]
				if !legit[ei] {
					b.fileDropped(e, b.ends[ei], acc, &rb)
					continue
				}
				srcs, dsts, pk, srcIn, dstIn := b.accumulate(e, b.ends[ei], acc, &rb)
				if srcs[0].kind == peerUnknown || dsts[0].kind == peerUnknown {
					continue
				}
				pairs.add(srcs, dsts, pk)
				checks.add(ei, e, srcIn, dstIn)
			}
			p.Namespaces[i] = b.namespaceProposal(acc)
			errs[i] = b.verifyNS(&p.Namespaces[i], edges, &checks, &rb)
			obs.nsPairs[i], owned[i] = pairs.nsCount, pairs.owned
		}
	})
	for _, n := range owned {
		obs.pairs += n
	}
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	err := b.finish(p, obs)
	// Notes of one namespace keep their order; namespaces are sorted.
	slices.SortStableFunc(b.notes, func(x, y Note) int { return strings.Compare(x.Namespace, y.Namespace) })
	p.Notes = append(p.Notes, b.notes...)
	p.summarize()
	return p, err
}

// resolveBufs are one goroutine's buffers for resolving edge ends.
type resolveBufs struct {
	src, dst []peer
}

func (rb *resolveBufs) resolve(ix *index, e *flow.Edge) (srcs, dsts []peer) {
	rb.src = ix.resolveInto(rb.src, &e.Source, nil, nil)
	rb.dst = ix.resolveInto(rb.dst, &e.Destination, e.DNSNames, e.DestinationIPs)
	return rb.src, rb.dst
}

// edgeEnds caches the pod classes of an edge's ends found by the first
// pass, so later passes skip the identity lookups.
type edgeEnds struct {
	src, dst *class
}

func (rb *resolveBufs) resolveCached(ix *index, e *flow.Edge, ends edgeEnds) (srcs, dsts []peer) {
	if ends.src != nil {
		rb.src = append(rb.src[:0], peer{kind: peerPod, cls: ends.src})
	} else {
		rb.src = ix.resolveInto(rb.src, &e.Source, nil, nil)
	}
	if ends.dst != nil {
		rb.dst = append(rb.dst[:0], peer{kind: peerPod, cls: ends.dst})
	} else {
		rb.dst = ix.resolveInto(rb.dst, &e.Destination, e.DNSNames, e.DestinationIPs)
	}
	return rb.src, rb.dst
}

// chooseNamespaces picks the namespaces to propose for.
func (b *builder) chooseNamespaces() {
	want := map[string]bool{}
	for _, ns := range b.o.Namespaces {
		want[ns] = true
	}
	for ns, n := range b.ix.ns {
		switch {
		case len(want) > 0:
			if want[ns] {
				b.proposed[ns] = true
			}
		case slices.Contains(b.o.ExcludeNamespaces, ns):
			b.note(ns, NoteSkipped, "namespace %s skipped (%d workloads): a platform namespace is only proposed for when named with --namespace", ns, len(n.workloads))
		default:
			b.proposed[ns] = true
		}
	}
	for ns := range want {
		if b.ix.ns[ns] == nil {
			b.note(ns, NoteNoEvidence, "namespace %s: no workload of it appears in the evidence", ns)
		}
	}
}

// collectKnown records every name and outside address in the evidence,
// the universe least privilege is measured over.
func (b *builder) collectKnown(edges []flow.Edge) {
	names := map[string]bool{}
	ips := map[netip.Addr]bool{}
	for i := range edges {
		for _, n := range edges[i].DNSNames {
			names[normName(n)] = true
		}
		for _, s := range edges[i].DestinationIPs {
			if a, err := netip.ParseAddr(s); err == nil {
				ips[a.Unmap()] = true
			}
		}
	}
	for n := range names {
		b.knownNames = append(b.knownNames, n)
	}
	slices.Sort(b.knownNames)
	for a := range ips {
		b.knownIPs = append(b.knownIPs, a)
	}
	slices.SortFunc(b.knownIPs, func(x, y netip.Addr) int { return x.Compare(y) })
}

// edgeLegit says whether an edge is traffic to allow: forwarded, audited
// or redirected to a proxy, or of unknown verdict (recorder edges before a
// policy exists). Edges only ever dropped are what existing policy denies.
func edgeLegit(e *flow.Edge) (legit, conflict bool) {
	if e.Verdicts.IsZero() {
		return true, false
	}
	ok := e.Verdicts.Get(flow.VerdictForwarded) + e.Verdicts.Get(flow.VerdictAudit) + e.Verdicts.Get(flow.VerdictRedirected) + e.Verdicts.Get(flow.VerdictUnknown)
	bad := e.Verdicts.Get(flow.VerdictDropped)
	return ok > 0, ok > 0 && bad > 0
}

// fileDropped remembers the outside addresses existing policy denied a
// workload, as evidence for CIDR exceptions.
func (b *builder) fileDropped(e *flow.Edge, ends edgeEnds, acc *nsAcc, rb *resolveBufs) {
	srcs, dsts := rb.resolveCached(b.ix, e, ends)
	if srcs[0].kind != peerPod || srcs[0].cls.ns != acc.n.name {
		return
	}
	w := acc.wl(srcs[0].cls.wl)
	for _, d := range dsts {
		if d.kind == peerCIDR {
			w.dropped = append(w.dropped, d.ip)
		}
	}
}

// accumulate files one allowed edge under the workloads of acc's
// namespace it concerns: the source's egress, the destination's ingress.
// It returns the ends and port it found (srcs and dsts are rb's).
func (b *builder) accumulate(e *flow.Edge, ends edgeEnds, acc *nsAcc, rb *resolveBufs) (srcs, dsts []peer, pk portKey, srcIn, dstIn bool) {
	srcs, dsts = rb.resolveCached(b.ix, e, ends)
	pk = edgePort(e)
	ns := acc.n.name
	srcIn = srcs[0].kind == peerPod && srcs[0].cls.ns == ns
	dstIn = dsts[0].kind == peerPod && dsts[0].cls.ns == ns
	if srcIn {
		src := srcs[0].cls
		w := acc.wl(src.wl)
		pods := podList{src.ns, e.SourcePods}
		w.outFlows.addEdge(e, pods, b.maxPods)
		acc.st.addEdge(e, pods, b.maxPods)
		for _, d := range dsts {
			switch {
			case d.kind == peerUnknown:
				b.note(src.ns, NoteUnknown, "%s → %s on %s: the destination has no identity, labels or address; no rule can select it",
					srcs[0], e.Destination.String(), pk)
			case dnsPeer(d, pk):
				w.dns.add(d, pk, e, pods, b.maxPods)
				acc.dns.add(d, pk, e, pods, b.maxPods)
				for _, q := range e.DNSQueries {
					if w.queries == nil {
						w.queries = map[string]bool{}
					}
					w.queries[normName(q)] = true
					acc.queries[normName(q)] = true
				}
			case d.kind == peerEntity && d.entity == "kube-apiserver":
				w.apiserv.add(d, pk, e, pods, b.maxPods)
			default:
				w.egress.add(d, pk, e, pods, b.maxPods)
			}
		}
	}
	if dstIn {
		dst := dsts[0].cls
		w := acc.wl(dst.wl)
		w.inFlows.addEdge(e, podList{dst.ns, e.DestinationPods}, b.maxPods)
		pods := podList{podNamespaceOf(srcs[0]), e.SourcePods}
		if !srcIn {
			acc.st.addEdge(e, pods, b.maxPods)
		}
		s := srcs[0]
		switch {
		case s.kind == peerUnknown:
			b.note(dst.ns, NoteUnknown, "%s → %s on %s: the source has no identity or labels; no rule can select it",
				e.Source.String(), dsts[0], pk)
		case s.kind == peerEntity && s.entity == "host":
			w.host.add(s, pk, e, pods, b.maxPods)
		case s.kind == peerEntity && s.entity != "world" && s.entity != "remote-node" && s.entity != "kube-apiserver":
			b.note(dst.ns, NoteReserved, "%s ← reserved:%s on %s (%d flows): the source has only a reserved identity, no labels to select; allowed with fromEntities %s",
				dsts[0], s.entity, pk, e.Flows, s.entity)
			w.ingress.add(s, pk, e, pods, b.maxPods)
		default:
			w.ingress.add(s, pk, e, pods, b.maxPods)
		}
	}
	return srcs, dsts, pk, srcIn, dstIn
}

func peersText(ps []peer) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

func podNamespaceOf(p peer) string {
	if p.kind == peerPod {
		return p.cls.ns
	}
	return ""
}
