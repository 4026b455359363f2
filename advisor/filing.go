package advisor

import (
	"cmp"

	"github.com/posture-dev/posture/flow"
)

// Per-edge facts found by resolving both ends, kept for filing.
const (
	factLegit    uint8 = 1 << iota // traffic to allow (edgeLegit)
	factConflict                   // both forwarded and dropped
	factUnknown                    // an end no rule can name
)

// fileEdges resolves every edge's ends (in parallel: it is most of the
// first pass), then files each edge under the proposed namespaces it
// touches, in edge order, and counts what verification counts globally.
func (b *builder) fileEdges(edges []flow.Edge) (legit []bool, nsEdges map[string][]int32, obs *observer) {
	b.ends = make([]edgeEnds, len(edges))
	facts := make([]uint8, len(edges))
	const chunk = 1 << 14
	inParallel((len(edges)+chunk-1)/chunk, func() func(int) {
		var rb resolveBufs
		return func(c int) {
			for i := c * chunk; i < min((c+1)*chunk, len(edges)); i++ {
				e := &edges[i]
				ok, conflict := edgeLegit(e)
				srcs, dsts := rb.resolve(b.ix, e)
				var f uint8
				if ok {
					f |= factLegit
				}
				if conflict {
					f |= factConflict
				}
				if srcs[0].kind == peerUnknown || dsts[0].kind == peerUnknown {
					f |= factUnknown
				}
				facts[i] = f
				if srcs[0].kind == peerPod {
					b.ends[i].src = srcs[0].cls
				}
				if dsts[0].kind == peerPod {
					b.ends[i].dst = dsts[0].cls
				}
			}
		}
	})

	legit = make([]bool, len(edges))
	nsEdges = map[string][]int32{}
	obs = &observer{}
	var rb resolveBufs
	for i := range edges {
		e := &edges[i]
		f := facts[i]
		legit[i] = f&factLegit != 0
		ends := b.ends[i]
		sns, dns := "", ""
		if ends.src != nil && b.proposed[ends.src.ns] {
			sns = ends.src.ns
			nsEdges[sns] = append(nsEdges[sns], int32(i))
		}
		if ends.dst != nil && b.proposed[ends.dst.ns] {
			dns = ends.dst.ns
			if dns != sns {
				nsEdges[dns] = append(nsEdges[dns], int32(i))
			}
		}
		if sns == "" && dns == "" {
			continue
		}
		primary := cmp.Or(sns, dns)
		if f&factConflict != 0 || !legit[i] {
			srcs, dsts := rb.resolve(b.ix, e)
			pk := edgePort(e)
			if f&factConflict != 0 {
				b.note(primary, NoteConflict, "%s → %s on %s: %d flows forwarded and %d dropped by existing policy; proposed as allowed since it was forwarded — check the existing policy",
					srcs[0], peersText(dsts), pk, e.Flows-min(e.Flows, e.Verdicts.Get(flow.VerdictDropped)), e.Verdicts.Get(flow.VerdictDropped))
			}
			if !legit[i] {
				b.note(primary, NoteDropped, "%s → %s on %s: %d flows only ever dropped by existing policy; not allowed",
					srcs[0], peersText(dsts), pk, e.Flows)
				continue
			}
		}
		if f&factUnknown != 0 {
			continue
		}
		obs.edges++
		obs.flows += e.Flows
	}
	return legit, nsEdges, obs
}
