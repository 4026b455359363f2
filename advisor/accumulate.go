package advisor

import (
	"cmp"
	"net/netip"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// portAcc is the evidence for one peer on one port.
type portAcc struct {
	st   stats
	http map[flow.HTTPSample]uint64 // Count unused in the key
}

// peerAcc collects the ports one peer was seen on.
type peerAcc struct {
	p     peer
	ports portSet
	// Most peers are seen on one port: its entry and evidence live here
	// rather than in allocations of their own.
	one      [1]portEntry
	firstAcc portAcc
}

// port returns the evidence for pk, adding it if new.
func (pa *peerAcc) port(pk portKey) *portAcc {
	if len(pa.ports) == 0 {
		pa.one[0] = portEntry{pk, &pa.firstAcc}
		pa.ports = pa.one[:1:1]
		return &pa.firstAcc
	}
	return pa.ports.getOrAdd(pk)
}

// portSet maps ports to their evidence; peers have few ports, so a slice
// searched linearly is cheaper than a map per peer.
type portSet []portEntry

type portEntry struct {
	pk  portKey
	acc *portAcc
}

func (s *portSet) getOrAdd(pk portKey) *portAcc {
	for _, e := range *s {
		if e.pk == pk {
			return e.acc
		}
	}
	a := &portAcc{}
	*s = append(*s, portEntry{pk, a})
	return a
}

// dirAcc is one workload's traffic in one direction, by peer.
type dirAcc struct {
	peers   map[peerKey]*peerAcc
	list    []*peerAcc // the same, for walking without the map
	st      stats      // kept only with totals: platform documents read it
	totals  bool
	hasHTTP bool
	slab    *scratch // optional
	hint    int      // expected peers, to size the map once
}

// peerKey finds a peer in a map: a pod by its class (class ids are long
// label lists, slow to hash), anything else by its id.
type peerKey struct {
	cls *class
	id  string
}

func keyOf(p peer) peerKey {
	if p.kind == peerPod {
		return peerKey{cls: p.cls}
	}
	return peerKey{id: p.id()}
}

func (d *dirAcc) add(p peer, pk portKey, e *flow.Edge, pods podList, maxPods int) *portAcc {
	if d.peers == nil {
		d.peers = make(map[peerKey]*peerAcc, d.hint)
		d.list = make([]*peerAcc, 0, d.hint)
	}
	k := keyOf(p)
	pa := d.peers[k]
	if pa == nil {
		pa = d.slab.newPeer(p)
		d.peers[k] = pa
		d.list = append(d.list, pa)
	}
	pt := pa.port(pk)
	pt.st.addEdge(e, pods, maxPods)
	if d.totals {
		d.st.addEdge(e, pods, maxPods)
	}
	for _, h := range e.HTTP {
		d.hasHTTP = true
		if pt.http == nil {
			pt.http = map[flow.HTTPSample]uint64{}
		}
		pt.http[flow.HTTPSample{Method: h.Method, Path: h.Path}] += h.Count
	}
	return pt
}

// sortedPeers returns the peers in id order. Pods compare by class number
// (the same order; their ids are long), other peers by id.
func (d *dirAcc) sortedPeers() []*peerAcc {
	type entry struct {
		id string // "" for a pod
		pa *peerAcc
	}
	es := make([]entry, 0, len(d.list))
	for _, pa := range d.list {
		var id string
		if pa.p.kind != peerPod {
			id = pa.p.id()
		}
		es = append(es, entry{id, pa})
	}
	order := indexOrder(nil, len(es), func(i, j int32) int {
		x, y := &es[i], &es[j]
		xp, yp := x.pa.p, y.pa.p
		switch {
		case xp.kind == peerPod && yp.kind == peerPod:
			return cmp.Compare(xp.cls.num, yp.cls.num)
		case xp.kind == peerPod:
			return strings.Compare(xp.cls.id, y.id)
		case yp.kind == peerPod:
			return strings.Compare(x.id, yp.cls.id)
		}
		return strings.Compare(x.id, y.id)
	})
	out := make([]*peerAcc, len(es))
	for i, o := range order {
		out[i] = es[o].pa
	}
	return out
}

// wlAcc is everything observed for one workload.
type wlAcc struct {
	wl       *workload
	ingress  dirAcc // narrow: pods, world, other entities
	egress   dirAcc
	host     dirAcc // platform: ingress from host (probes)
	apiserv  dirAcc // platform: egress to kube-apiserver
	dns      dirAcc // platform: egress to DNS servers
	queries  map[string]bool
	dropped  []netip.Addr // outside addresses existing policy denied
	inFlows  stats        // every ingress edge, for readiness
	outFlows stats
}

// nsAcc is everything observed for one proposed namespace.
type nsAcc struct {
	n        *nsIndex
	wls      map[*workload]*wlAcc
	dns      dirAcc // namespace-wide: DNS servers used
	queries  map[string]bool
	st       stats
	pc       portRuleCache
	slab     *scratch
	peerHint int
}

// newNSAcc starts a namespace's accumulators; slab is reset for it.
func newNSAcc(n *nsIndex, edges int, slab *scratch) *nsAcc {
	slab.reset()
	a := &nsAcc{n: n, wls: make(map[*workload]*wlAcc, len(n.workloads)), queries: map[string]bool{}, pc: portRuleCache{}, slab: slab}
	// A workload's share of the namespace's edges is about how many
	// peers each of its ingress and egress sees.
	a.peerHint = min(edges/max(1, len(n.workloads)), 1024)
	a.dns.slab, a.dns.totals = slab, true
	return a
}

func (a *nsAcc) wl(w *workload) *wlAcc {
	x := a.wls[w]
	if x == nil {
		x = &wlAcc{wl: w}
		for _, d := range []*dirAcc{&x.ingress, &x.egress, &x.host, &x.apiserv, &x.dns} {
			d.slab = a.slab
		}
		x.ingress.hint, x.egress.hint = a.peerHint, a.peerHint
		x.host.totals, x.apiserv.totals = true, true
		a.wls[w] = x
	}
	return x
}

// isDNSServer recognises a cluster DNS server by its labels or its
// namespace, whatever the distribution calls it.
func isDNSServer(c *class) bool {
	for _, l := range c.labels {
		if selectable(l) && dnsLabelValues[l.Value] {
			return true
		}
		if l.Key == flow.LabelServiceAccount && dnsLabelValues[l.Value] {
			return true
		}
	}
	return c.ns == "kube-system" || c.ns == "openshift-dns"
}

// dnsPort reports whether a port is DNS.
func dnsPort(pk portKey) bool {
	return pk.port == 53 && (pk.proto == flow.ProtoUDP || pk.proto == flow.ProtoTCP)
}

// dnsPeer reports whether traffic to p on pk is a DNS lookup to a server
// the platform allowance should cover.
func dnsPeer(p peer, pk portKey) bool {
	if !dnsPort(pk) {
		return false
	}
	switch p.kind {
	case peerPod:
		return isDNSServer(p.cls)
	case peerEntity:
		return p.entity == "host" || p.entity == "remote-node"
	case peerCIDR:
		return true
	}
	return false
}
