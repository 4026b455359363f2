package advisor

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// ruleSpec is one rule before rendering: one kind of peer, one port set.
type ruleSpec struct {
	kind     peerKind
	sels     []policy.EndpointSelector
	entities []string
	fqdns    []policy.FQDNSelector
	cidrs    []policy.CIDRRule
	ports    []portKey
	http     map[portKey][]policy.PortRuleHTTP // l7 stage only
	dns      []policy.PortRuleDNS              // DNS rules on every port
	st       stats
	peerText string
	// allowed are the numbers of known peers the rule selects, for least
	// privilege accounting (peerNum).
	allowed []uint32
}

// sigGroup gathers peers sharing a port set.
type sigGroup struct {
	ports []portKey
	peers []*peerAcc
}

func groupBySig(s *scratch, peers []*peerAcc) []sigGroup {
	// Sorting by port set and taking runs gives the groups in signature
	// order, peers in input order, without a map of signature strings.
	if s == nil {
		s = &scratch{}
	}
	ks := slices.Grow(s.keyed[:0], len(peers))[:len(peers)]
	n := 0
	for _, pa := range peers {
		n += len(pa.ports)
	}
	// One array holds every peer's sorted ports, one their signatures,
	// one every group's peers; ports and peers last as long as the
	// namespace's specs, the rest only for this call.
	buf := take(&s.ports, n)
	sigs := slices.Grow(s.sigs[:0], 12*n)
	for i, pa := range peers {
		start, sigStart := len(buf), len(sigs)
		buf = appendSortedPorts(buf, pa.ports)
		ports := buf[start:len(buf):len(buf)]
		sigs = appendPortSig(sigs, ports)
		ks[i] = sigKeyed{ports: ports, sig: sigs[sigStart:len(sigs):len(sigs)]}
	}
	s.keyed, s.sigs = ks, sigs
	order := indexOrder(s.order[:0], len(ks), func(x, y int32) int { return bytes.Compare(ks[x].sig, ks[y].sig) })
	s.order = order
	all := take(&s.peers, len(ks))[:len(ks)]
	for i, o := range order {
		all[i] = peers[o]
	}
	var out []sigGroup
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && slices.Equal(ks[order[j]].ports, ks[order[i]].ports) {
			j++
		}
		out = append(out, sigGroup{ports: ks[order[i]].ports, peers: all[i:j:j]})
		i = j
	}
	return out
}

// sigKeyed is a peer's sorted ports and their signature text, compared
// as comparePortSig does.
type sigKeyed struct {
	ports []portKey
	sig   []byte
}

// groupStats merges the evidence of peers on the given ports.
func groupStats(peers []*peerAcc, maxPods int) stats {
	var st stats
	for _, pa := range peers {
		for _, e := range pa.ports {
			st.merge(&e.acc.st, maxPods)
		}
	}
	return st
}

// groupHTTP merges HTTP samples per port.
func groupHTTP(peers []*peerAcc) map[portKey]map[flow.HTTPSample]uint64 {
	out := map[portKey]map[flow.HTTPSample]uint64{}
	for _, pa := range peers {
		for _, e := range pa.ports {
			pk, pt := e.pk, e.acc
			for h, n := range pt.http {
				if out[pk] == nil {
					out[pk] = map[flow.HTTPSample]uint64{}
				}
				out[pk][h] += n
			}
		}
	}
	return out
}

// specInput says how to build rules for one direction of one subject.
type specInput struct {
	ns      string // the subject's namespace
	d       *dirAcc
	l7      bool // add HTTP rules
	l7Peers bool // HTTP rules also for pod peers (ingress side)
	// forcePorts replaces observed ports (DNS: always UDP and TCP 53).
	forcePorts []portKey
	dns        []policy.PortRuleDNS
	dropped    []netip.Addr // world addresses existing policy denied
}

// specs turns one direction's peers into rule specs.
func (b *builder) specs(in specInput) []ruleSpec {
	var byKind [peerUnknown + 1][]*peerAcc
	for _, pa := range in.d.sortedPeers() {
		byKind[pa.p.kind] = append(byKind[pa.p.kind], pa)
	}
	var podGroups []sigGroup
	if ps := byKind[peerPod]; len(ps) > 0 {
		podGroups = groupBySig(in.d.slab, b.forced(in, ps))
	}
	// Pods sharing a port set share a rule: many ingress peers, few rules.
	out := in.d.slab.specList(len(podGroups) + len(in.d.peers) - len(byKind[peerPod]))
	out = b.podSpecs(out, in, podGroups)
	if ps := byKind[peerEntity]; len(ps) > 0 {
		for _, g := range groupBySig(in.d.slab, b.forced(in, ps)) {
			r := ruleSpec{kind: peerEntity, ports: g.ports, st: groupStats(g.peers, b.maxPods), dns: in.dns}
			for _, pa := range g.peers {
				r.entities = append(r.entities, pa.p.entity)
				r.allowed = append(r.allowed, b.peerNum(pa.p))
			}
			slices.Sort(r.entities)
			r.entities = slices.Compact(r.entities)
			r.peerText = "entities " + strings.Join(r.entities, ", ")
			b.addHTTP(&r, g.peers, in.l7)
			out = append(out, r)
		}
	}
	if ps := byKind[peerFQDN]; len(ps) > 0 {
		out = b.fqdnSpecs(out, in, ps)
	}
	if ps := byKind[peerCIDR]; len(ps) > 0 {
		out = b.cidrSpecs(out, in, ps)
	}
	sortSpecs(out)
	return out
}

// indexOrder returns 0..n-1 stably sorted by cmp over the items they
// index. Sorting indexes moves four bytes where moving the items would
// copy large structs, or pointers under write barriers while the
// collector runs.
func indexOrder(dst []int32, n int, cmp func(i, j int32) int) []int32 {
	order := slices.Grow(dst[:0], n)[:n]
	for i := range order {
		order[i] = int32(i)
	}
	if n > 1 {
		slices.SortStableFunc(order, cmp)
	}
	return order
}

// sortSpecs orders specs by kind, peer text and port set, stably, applying
// an order of indexes in place.
func sortSpecs(specs []ruleSpec) {
	order := indexOrder(nil, len(specs), func(i, j int32) int {
		x, y := &specs[i], &specs[j]
		if c := cmp.Compare(x.kind, y.kind); c != 0 {
			return c
		}
		if c := strings.Compare(x.peerText, y.peerText); c != 0 {
			return c
		}
		return comparePortSig(x.ports, y.ports)
	})
	// Position i takes specs[order[i]]: follow each cycle once.
	for i := range order {
		if order[i] < 0 {
			continue
		}
		tmp := specs[i]
		j := i
		for {
			k := int(order[j])
			order[j] = -1
			if k == i {
				specs[j] = tmp
				break
			}
			specs[j] = specs[k]
			j = k
		}
	}
}

// forced replaces the peers' ports when the caller fixes them.
func (b *builder) forced(in specInput, ps []*peerAcc) []*peerAcc {
	if in.forcePorts == nil {
		return ps
	}
	out := make([]*peerAcc, len(ps))
	for i, pa := range ps {
		var st portAcc
		for _, e := range pa.ports {
			st.st.merge(&e.acc.st, b.maxPods)
		}
		np := &peerAcc{p: pa.p}
		for j, pk := range in.forcePorts {
			if j == 0 {
				np.ports = append(np.ports, portEntry{pk, &st})
			} else {
				np.ports = append(np.ports, portEntry{pk, &portAcc{}})
			}
		}
		out[i] = np
	}
	return out
}

func (b *builder) addHTTP(r *ruleSpec, peers []*peerAcc, l7 bool) {
	if !l7 {
		return
	}
	for pk, samples := range groupHTTP(peers) {
		if rules := httpRules(samples, b.o.HTTPPathIDs); len(rules) > 0 {
			if r.http == nil {
				r.http = map[portKey][]policy.PortRuleHTTP{}
			}
			r.http[pk] = rules
		}
	}
}

func (b *builder) podSpecs(out []ruleSpec, in specInput, groups []sigGroup) []ruleSpec {
	var single [1]*selResult
	for _, g := range groups {
		// Peer classes by namespace, in namespace order (most groups have
		// one peer: no map needed).
		if len(g.peers) == 1 {
			// One peer class, the common case: its selector, text and
			// matched ids are shared by every rule naming it. Specs are
			// large: this one is filled in place.
			out = append(out, ruleSpec{kind: peerPod, ports: g.ports, dns: in.dns})
			r := &out[len(out)-1]
			r.st = groupStats(g.peers, b.maxPods)
			c := g.peers[0].p.cls
			sr := c.nsIx.classSelector(c)
			if c.ns != in.ns {
				r.sels, r.peerText = sr.remoteOne, sr.remoteText
			} else {
				r.sels, r.peerText = sr.localOne, sr.text
			}
			r.allowed = sr.matchedNums
			b.addHTTP(r, g.peers, in.l7 && in.l7Peers)
			continue
		}
		r := ruleSpec{kind: peerPod, ports: g.ports, st: groupStats(g.peers, b.maxPods), dns: in.dns}
		cls := make([]*class, len(g.peers))
		for i, pa := range g.peers {
			cls[i] = pa.p.cls
		}
		slices.SortStableFunc(cls, func(x, y *class) int { return strings.Compare(x.ns, y.ns) })
		var texts []string
		for start := 0; start < len(cls); {
			end := start + 1
			for end < len(cls) && cls[end].ns == cls[start].ns {
				end++
			}
			pns := cls[start].ns
			n := cls[start].nsIx
			remote := pns != in.ns
			srs := single[:0]
			if end-start == 1 {
				srs = append(srs, n.classSelector(cls[start]))
			} else {
				srs = n.peerSelectors(cls[start:end])
			}
			for _, sr := range srs {
				if remote {
					r.sels = append(r.sels, sr.remote)
					texts = append(texts, pns+":"+sr.text)
				} else {
					r.sels = append(r.sels, sr.local)
					texts = append(texts, sr.text)
				}
				for _, c := range sr.matched {
					r.allowed = append(r.allowed, c.num)
				}
			}
			start = end
		}
		r.peerText = strings.Join(texts, " ")
		b.addHTTP(&r, g.peers, in.l7 && in.l7Peers)
		out = append(out, r)
	}
	return out
}

func (b *builder) fqdnSpecs(out []ruleSpec, in specInput, ps []*peerAcc) []ruleSpec {
	names := make([]string, 0, len(ps))
	for _, pa := range ps {
		names = append(names, pa.p.name)
	}
	groups := fqdnGroups(names, b.o.FQDNPatternSiblings)
	// Merge peers per selector so each selector carries the union of its
	// names' ports.
	merged := map[string]*peerAcc{}
	sel := map[string]policy.FQDNSelector{}
	for _, pa := range ps {
		g := groups[pa.p.name]
		k := g.key()
		m := merged[k]
		if m == nil {
			m = &peerAcc{p: peer{kind: peerFQDN, name: k}}
			merged[k] = m
			sel[k] = g.sel
		}
		for _, e := range pa.ports {
			pt := e.acc
			x := m.ports.getOrAdd(e.pk)
			x.st.merge(&pt.st, b.maxPods)
			for h, n := range pt.http {
				if x.http == nil {
					x.http = map[flow.HTTPSample]uint64{}
				}
				x.http[h] += n
			}
		}
	}
	list := make([]*peerAcc, 0, len(merged))
	for _, m := range merged {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b *peerAcc) int { return strings.Compare(a.p.name, b.p.name) })
	for _, g := range groupBySig(in.d.slab, b.forced(in, list)) {
		r := ruleSpec{kind: peerFQDN, ports: g.ports, st: groupStats(g.peers, b.maxPods), dns: in.dns}
		var texts []string
		for _, pa := range g.peers {
			s := sel[pa.p.name]
			r.fqdns = append(r.fqdns, s)
			if s.MatchPattern != "" {
				texts = append(texts, s.MatchPattern)
			} else {
				texts = append(texts, s.MatchName)
			}
			if s.MatchName != "" {
				r.allowed = append(r.allowed, b.peerNum(peer{kind: peerFQDN, name: s.MatchName}))
			} else {
				for i, n := range b.knownNames {
					if fqdnMatches(s, n) {
						r.allowed = append(r.allowed, b.nameNum(i))
					}
				}
			}
		}
		r.peerText = strings.Join(texts, " ")
		b.addHTTP(&r, g.peers, in.l7)
		out = append(out, r)
	}
	return out
}

func (b *builder) cidrSpecs(out []ruleSpec, in specInput, ps []*peerAcc) []ruleSpec {
	ips := make([]netip.Addr, 0, len(ps))
	for _, pa := range ps {
		ips = append(ips, pa.p.ip)
	}
	agg := aggregateIPs(ips, b.o.CIDRAggregate)
	merged := map[netip.Prefix]*peerAcc{}
	for _, pa := range ps {
		pfx := agg[pa.p.ip]
		m := merged[pfx]
		if m == nil {
			m = &peerAcc{p: peer{kind: peerCIDR, name: pfx.String(), ip: pfx.Addr()}}
			merged[pfx] = m
		}
		for _, e := range pa.ports {
			pt := e.acc
			x := m.ports.getOrAdd(e.pk)
			x.st.merge(&pt.st, b.maxPods)
			for h, n := range pt.http {
				if x.http == nil {
					x.http = map[flow.HTTPSample]uint64{}
				}
				x.http[h] += n
			}
		}
	}
	pfxs := make([]netip.Prefix, 0, len(merged))
	for p := range merged {
		pfxs = append(pfxs, p)
	}
	slices.SortFunc(pfxs, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	list := make([]*peerAcc, len(pfxs))
	for i, p := range pfxs {
		list[i] = merged[p]
	}
	for _, g := range groupBySig(in.d.slab, b.forced(in, list)) {
		r := ruleSpec{kind: peerCIDR, ports: g.ports, st: groupStats(g.peers, b.maxPods), dns: in.dns}
		var texts []string
		for _, pa := range g.peers {
			pfx := netip.MustParsePrefix(pa.p.name)
			cr := policy.CIDRRule{CIDR: pfx.String()}
			if pfx.Bits() < pfx.Addr().BitLen() {
				for _, d := range in.dropped {
					// Never carve out an address the workload was also
					// seen reaching: that would break it.
					if pfx.Contains(d) && !slices.Contains(ips, d) {
						cr.Except = append(cr.Except, netip.PrefixFrom(d, d.BitLen()).String())
					}
				}
				slices.Sort(cr.Except)
				cr.Except = slices.Compact(cr.Except)
			}
			r.cidrs = append(r.cidrs, cr)
			texts = append(texts, cr.CIDR)
			// Known addresses inside the prefix: a binary search to its
			// first address, then a walk while they stay inside.
			i, _ := slices.BinarySearchFunc(b.knownIPs, pfx.Masked().Addr(), func(a, t netip.Addr) int { return a.Compare(t) })
			for ; i < len(b.knownIPs) && pfx.Contains(b.knownIPs[i]); i++ {
				ip := b.knownIPs[i]
				if len(cr.Except) == 0 || !slices.Contains(cr.Except, netip.PrefixFrom(ip, ip.BitLen()).String()) {
					r.allowed = append(r.allowed, b.ipNum(i))
				}
			}
		}
		r.peerText = strings.Join(texts, " ")
		b.addHTTP(&r, g.peers, in.l7)
		out = append(out, r)
	}
	return out
}
