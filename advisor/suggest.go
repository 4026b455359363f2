package advisor

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// builder carries what every step of a suggestion needs.
type builder struct {
	o          Options
	ix         *index
	maxPods    int
	knownNames []string
	knownIPs   []netip.Addr
	proposed   map[string]bool
	notes      []Note
	// noteCounts bounds repetitive notes per namespace and kind.
	noteCounts map[string]int
	// allowIn/allowOut are the "peer|port" entries each workload's target
	// rules allow, for the self-check and least-privilege accounting.
	allowIn  map[*workload]map[string]struct{}
	allowOut map[*workload]map[string]struct{}
}

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
		allowIn: map[*workload]map[string]struct{}{}, allowOut: map[*workload]map[string]struct{}{},
	}
	b.ix.build(collectIdentities(edges))
	b.chooseNamespaces()
	b.collectKnown(edges)

	accs := map[string]*nsAcc{}
	for ns := range b.proposed {
		accs[ns] = &nsAcc{n: b.ix.ns[ns], wls: map[*workload]*wlAcc{}, queries: map[string]bool{}}
	}
	legit := make([]bool, len(edges))
	for i := range edges {
		legit[i] = b.accumulate(&edges[i], accs)
	}
	nss := make([]string, 0, len(accs))
	for ns := range accs {
		nss = append(nss, ns)
	}
	slices.Sort(nss)
	for _, ns := range nss {
		p.Namespaces = append(p.Namespaces, b.namespaceProposal(accs[ns]))
	}
	err := b.verify(p, edges, legit)
	p.Notes = append(p.Notes, b.notes...)
	p.summarize()
	return p, err
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
	if len(e.Verdicts) == 0 {
		return true, false
	}
	ok := e.Verdicts[flow.VerdictForwarded] + e.Verdicts[flow.VerdictAudit] + e.Verdicts[flow.VerdictRedirected] + e.Verdicts[flow.VerdictUnknown]
	bad := e.Verdicts[flow.VerdictDropped]
	return ok > 0, ok > 0 && bad > 0
}

func nsPods(ns string, pods []string) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		if ns != "" && !strings.Contains(p, "/") {
			out[i] = ns + "/" + p
		} else {
			out[i] = p
		}
	}
	return out
}

// accumulate files one edge under the workloads it concerns and reports
// whether it is traffic to allow.
func (b *builder) accumulate(e *flow.Edge, accs map[string]*nsAcc) bool {
	legit, conflict := edgeLegit(e)
	srcs := b.ix.resolve(&e.Source, nil, nil)
	dsts := b.ix.resolve(&e.Destination, e.DNSNames, e.DestinationIPs)
	pk := portKey{proto: e.Protocol, port: e.Port}
	var srcAcc, dstAcc *nsAcc
	if srcs[0].kind == peerPod {
		srcAcc = accs[srcs[0].cls.ns]
	}
	if len(dsts) > 0 && dsts[0].kind == peerPod {
		dstAcc = accs[dsts[0].cls.ns]
	}
	if srcAcc == nil && dstAcc == nil {
		return legit
	}
	ns := ""
	if srcAcc != nil {
		ns = srcAcc.n.name
	} else {
		ns = dstAcc.n.name
	}
	if conflict {
		b.note(ns, NoteConflict, "%s → %s on %s: %d flows forwarded and %d dropped by existing policy; proposed as allowed since it was forwarded — check the existing policy",
			srcs[0], peersText(dsts), pk, e.Flows-min(e.Flows, e.Verdicts[flow.VerdictDropped]), e.Verdicts[flow.VerdictDropped])
	}
	if !legit {
		b.note(ns, NoteDropped, "%s → %s on %s: %d flows only ever dropped by existing policy; not allowed",
			srcs[0], peersText(dsts), pk, e.Flows)
		if srcAcc != nil {
			w := srcAcc.wl(srcs[0].cls.wl)
			for _, d := range dsts {
				if d.kind == peerCIDR {
					w.dropped = append(w.dropped, d.ip)
				}
			}
		}
		return false
	}
	if srcAcc != nil {
		src := srcs[0].cls
		w := srcAcc.wl(src.wl)
		pods := nsPods(src.ns, e.SourcePods)
		w.outFlows.addEdge(e, pods, b.maxPods)
		srcAcc.st.addEdge(e, pods, b.maxPods)
		for _, d := range dsts {
			switch {
			case d.kind == peerUnknown:
				b.note(src.ns, NoteUnknown, "%s → %s on %s: the destination has no identity, labels or address; no rule can select it",
					e.Source.String(), e.Destination.String(), pk)
			case dnsPeer(d, pk):
				w.dns.add(d, pk, e, pods, b.maxPods)
				srcAcc.dns.add(d, pk, e, pods, b.maxPods)
				for _, q := range e.DNSQueries {
					if w.queries == nil {
						w.queries = map[string]bool{}
					}
					w.queries[normName(q)] = true
					srcAcc.queries[normName(q)] = true
				}
			case d.kind == peerEntity && d.entity == "kube-apiserver":
				w.apiserv.add(d, pk, e, pods, b.maxPods)
			default:
				w.egress.add(d, pk, e, pods, b.maxPods)
			}
		}
	}
	if dstAcc != nil {
		dst := dsts[0].cls
		w := dstAcc.wl(dst.wl)
		w.inFlows.addEdge(e, nsPods(dst.ns, e.DestinationPods), b.maxPods)
		pods := nsPods(podNamespaceOf(srcs[0]), e.SourcePods)
		if srcAcc == nil || srcAcc != dstAcc {
			dstAcc.st.addEdge(e, pods, b.maxPods)
		}
		s := srcs[0]
		switch {
		case s.kind == peerUnknown:
			b.note(dst.ns, NoteUnknown, "%s → %s on %s: the source has no identity or labels; no rule can select it",
				e.Source.String(), e.Destination.String(), pk)
		case s.kind == peerEntity && s.entity == "host":
			w.host.add(s, pk, e, pods, b.maxPods)
		case s.kind == peerEntity && s.entity != "world" && s.entity != "remote-node" && s.entity != "kube-apiserver":
			b.note(dst.ns, NoteReserved, "%s ← reserved:%s on %s (%d flows): the source has only a reserved identity, no labels to select; allowed with fromEntities %s",
				peer{kind: peerPod, cls: dst}, s.entity, pk, e.Flows, s.entity)
			w.ingress.add(s, pk, e, pods, b.maxPods)
		default:
			w.ingress.add(s, pk, e, pods, b.maxPods)
		}
	}
	return true
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
