package policy

import (
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/posture-dev/posture/flow"
)

// identity is one distinct endpoint identity as the engine sees it: the
// selectors that match its labels and, once it has been a subject, its
// own per-direction policy.
type identity struct {
	idx       uint32      // dense index, for the verdict cache
	raw       flow.Labels // a copy of the labels as given, to verify numeric-id cache hits
	first     *flow.Label // the first caller's label slice (see sameLabels)
	namespace string
	labels    flow.Labels // effective labels (reserved labels synthesized)
	bits      []uint64    // label selectors matching labels
	endpoint  bool        // a local Cilium endpoint that policies can select
	host      bool
	localhost bool // carries reserved:host (allow-localhost applies)
	world     bool // outside the cluster: CIDR and FQDN selectors apply
	// fqdnBits marks the FQDN selectors named by the identity's fqdn:
	// labels (an address Cilium learned through that selector).
	fqdnBits []uint64
	init     bool

	once sync.Once
	pol  *subjectPolicy
}

// subjectPolicy is the policy of one endpoint identity.
type subjectPolicy struct {
	ingress, egress dirPolicy
}

// dirPolicy is the policy of one endpoint in one direction.
type dirPolicy struct {
	selected    bool
	defaultDeny bool
	deny, allow []*entry
	// Requirements (from/toRequires) of all rules selecting the
	// endpoint, applied to every from/toEndpoints peer, as Cilium does.
	allowReqs, denyReqs []int32
	reasonDefault       string
}

// ipInfo caches the CIDR selectors matching one address.
type ipInfo struct {
	addr netip.Addr
	bits []uint64
}

// peerView is the other end of a flow as the matching code needs it.
type peerView struct {
	id    *identity
	ip    *ipInfo // nil unless the peer is outside the cluster
	names []string
	e     *Engine
}

func hasBit(bits []uint64, i int32) bool {
	w := int(i >> 6)
	return w < len(bits) && bits[w]&(1<<(uint(i)&63)) != 0
}

func setBit(bits []uint64, i int32) { bits[i>>6] |= 1 << (uint(i) & 63) }

// identityOf returns the memoized identity of an endpoint, resolving it on
// first sight. Numeric identities are the fast path; the label set decides
// when the number is missing or was reused with other labels.
func (e *Engine) identityOf(ep *flow.Endpoint) *identity {
	if ep.Identity != flow.IdentityUnknown {
		id := e.byID.load(uint64(ep.Identity))
		if id != nil && id.namespace == ep.Namespace && id.sameLabels(ep.Labels) {
			return id
		}
	}
	key := endpointKey(ep)
	e.mu.RLock()
	id := e.byKey[key]
	e.mu.RUnlock()
	if id == nil {
		id = e.resolve(ep)
		e.mu.Lock()
		if old := e.byKey[key]; old != nil {
			id = old
		} else {
			e.nextIdx++
			id.idx = e.nextIdx
			e.byKey[key] = id
		}
		e.mu.Unlock()
	}
	if ep.Identity != flow.IdentityUnknown {
		// The first label set seen keeps the number; a number reused with
		// other labels takes the slower path above each time.
		e.byID.store(uint64(ep.Identity), id, 0)
	}
	return id
}

// sameLabels reports whether ls are the identity's labels. Flows built
// from one label slice (edges' representatives, the flows of one
// endpoint) are recognised by the slice's address, which the identity
// keeps alive so it cannot be reused; others are compared label by label.
func (id *identity) sameLabels(ls flow.Labels) bool {
	if len(ls) != len(id.raw) {
		return false
	}
	if len(ls) == 0 || unsafe.SliceData(ls) == id.first {
		return true
	}
	return id.raw.Equal(ls)
}

func endpointKey(ep *flow.Endpoint) string {
	var b strings.Builder
	b.WriteString(ep.Namespace)
	b.WriteByte(0)
	if ep.Identity.IsReserved() || ep.Identity >= flow.IdentityMinLocal {
		b.WriteString(strconv.FormatUint(uint64(ep.Identity), 10))
	}
	b.WriteByte(0)
	b.WriteString(ep.Labels.Key())
	return b.String()
}

// resolve derives an identity's effective labels and matching selectors.
func (e *Engine) resolve(ep *flow.Endpoint) *identity {
	id := &identity{raw: slices.Clone(ep.Labels), first: unsafe.SliceData(ep.Labels), namespace: ep.Namespace}
	ls := slices.Clone(ep.Labels)
	// Reserved and CIDR identities get the labels Cilium gives them when
	// the record only has the number.
	if n := ep.Identity.ReservedName(); n != "" && !ls.Has(flow.SourceReserved, n) {
		ls = append(ls, flow.Label{Source: flow.SourceReserved, Key: n})
	}
	if ep.Identity == flow.IdentityKubeAPIServer && !ls.Has(flow.SourceReserved, "remote-node") {
		// Identity 7 is Cilium's "remote nodes serving the kube-apiserver"
		// and carries both labels, so remote-node rules select it too.
		ls = append(ls, flow.Label{Source: flow.SourceReserved, Key: "remote-node"})
	}
	if ep.Identity >= flow.IdentityMinLocal && !hasReservedWorld(ls) {
		ls = append(ls, flow.Label{Source: flow.SourceReserved, Key: "world"})
	}
	reserved := false
	for _, l := range ls {
		if l.Source == flow.SourceReserved {
			reserved = true
		}
	}
	if !reserved && ep.Identity < flow.IdentityMinLocal && ep.Namespace != "" && !ls.Has(flow.SourceK8s, keyNamespace) {
		ls = append(ls, flow.Label{Source: flow.SourceK8s, Key: keyNamespace, Value: ep.Namespace})
	}
	if len(ls) == 0 && ep.IP != "" {
		// An address with no identity at all: outside the cluster.
		ls = append(ls, flow.Label{Source: flow.SourceReserved, Key: "world"})
	}
	ls.Sort()
	id.labels = ls

	has := func(k string) bool { return ls.Has(flow.SourceReserved, k) }
	id.world = hasReservedWorld(ls)
	id.localhost = has("host")
	id.host = has("host") || ep.Identity == flow.IdentityHost
	id.init = has("init")
	switch {
	case id.host || id.world:
	case has("health") || has("ingress") || id.init:
		// Cilium runs these as local endpoints; clusterwide policies can
		// select them.
		id.endpoint = true
	case reserved:
		// remote-node, kube-apiserver, unmanaged: not endpoints here.
	default:
		id.endpoint = ls.Has(flow.SourceK8s, keyNamespace)
	}

	if id.world {
		for _, l := range ls {
			if l.Source != flow.SourceFQDN {
				continue
			}
			for j := range e.fqdns {
				if e.fqdns[j].label == l.Key {
					if id.fqdnBits == nil {
						id.fqdnBits = make([]uint64, (len(e.fqdns)+63)/64)
					}
					setBit(id.fqdnBits, int32(j))
				}
			}
		}
	}

	id.bits = make([]uint64, e.nWords)
	try := func(s int32) {
		if !hasBit(id.bits, s) && e.sels[s].matches(ls) {
			setBit(id.bits, s)
		}
	}
	for _, l := range ls {
		for _, s := range e.anchored[l.Key][l.Value] {
			try(s)
		}
	}
	for _, s := range e.unanchored {
		try(s)
	}
	return id
}

func hasReservedWorld(ls flow.Labels) bool {
	for _, l := range ls {
		if l.Source == flow.SourceReserved && (l.Key == "world" || l.Key == "world-ipv4" || l.Key == "world-ipv6") {
			return true
		}
	}
	return false
}

// subjectPolicy builds (once) the policy of an endpoint identity from the
// entries whose subject selector matches it.
func (e *Engine) subjectPolicy(id *identity) *subjectPolicy {
	id.once.Do(func() {
		p := &subjectPolicy{}
		var inBy, egBy []string
		for w, word := range id.bits {
			for ; word != 0; word &= word - 1 {
				subj := w*64 + bits.TrailingZeros64(word)
				p.add(e.bySubject[subj], &inBy, &egBy)
			}
		}
		if id.init {
			// Cilium always enforces default deny on initialising endpoints.
			for _, dp := range []*dirPolicy{&p.ingress, &p.egress} {
				dp.selected, dp.defaultDeny = true, true
			}
			inBy, egBy = append(inBy, "reserved:init"), append(egBy, "reserved:init")
		}
		for _, d := range []struct {
			dp *dirPolicy
			by []string
		}{{&p.ingress, inBy}, {&p.egress, egBy}} {
			sortEntries(d.dp.deny)
			sortEntries(d.dp.allow)
			slices.Sort(d.dp.allowReqs)
			d.dp.allowReqs = slices.Compact(d.dp.allowReqs)
			slices.Sort(d.dp.denyReqs)
			d.dp.denyReqs = slices.Compact(d.dp.denyReqs)
			d.dp.reasonDefault = defaultDenyReason(d.by)
		}
		id.pol = p
	})
	return id.pol
}

// add files a subject's entries under their direction.
func (p *subjectPolicy) add(ens []*entry, inBy, egBy *[]string) {
	for _, en := range ens {
		dp, by := &p.egress, egBy
		if en.ingress {
			dp, by = &p.ingress, inBy
		}
		dp.selected = true
		if en.defaultDeny {
			dp.defaultDeny = true
			*by = append(*by, en.ref.Namespace+"/"+en.ref.Policy)
		}
		if en.deny {
			dp.deny = append(dp.deny, en)
			dp.denyReqs = append(dp.denyReqs, en.reqSels...)
		} else {
			dp.allow = append(dp.allow, en)
			dp.allowReqs = append(dp.allowReqs, en.reqSels...)
		}
	}
}

// sortEntries orders rules by policy, rule set, section and index so that
// the rules reported are deterministic.
func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int {
		x, y := a.ref, b.ref
		switch {
		case x.Namespace != y.Namespace:
			return strings.Compare(x.Namespace, y.Namespace)
		case x.Policy != y.Policy:
			return strings.Compare(x.Policy, y.Policy)
		case x.Spec != y.Spec:
			return x.Spec - y.Spec
		case x.Section != y.Section:
			return strings.Compare(x.Section, y.Section)
		}
		return x.Index - y.Index
	})
}

func defaultDenyReason(by []string) string {
	slices.Sort(by)
	by = slices.Compact(by)
	for i, b := range by {
		by[i] = strings.TrimPrefix(b, "/")
	}
	if len(by) == 0 {
		return reasonDefaultDeny
	}
	const max = 3
	s := strings.Join(by[:min(len(by), max)], ", ")
	if len(by) > max {
		s += " and " + strconv.Itoa(len(by)-max) + " more"
	}
	return reasonDefaultDeny + " (default deny enabled by " + s + ")"
}

// maxAddrCache bounds the per-address and per-name caches.
const maxAddrCache = 1 << 16

// peerView prepares the other end of a flow for matching.
func (e *Engine) peerView(id *identity, ep *flow.Endpoint) peerView {
	pv := peerView{id: id, e: e}
	if id.world {
		pv.ip = e.ipInfoOf(ep.IP, ep.Identity)
		pv.names = ep.Names
	}
	return pv
}

func (e *Engine) ipInfoOf(ip string, idn flow.Identity) *ipInfo {
	key := ip
	if ip == "" {
		// Without an address only the world prefixes can match, and
		// which one depends on the identity's family.
		key = "identity:" + strconv.FormatUint(uint64(idn), 10)
	}
	e.mu.RLock()
	info := e.ips[key]
	e.mu.RUnlock()
	if info != nil {
		return info
	}
	// Computed outside the lock; a racing duplicate computes the same.
	info = &ipInfo{bits: make([]uint64, (len(e.cidrs)+63)/64)}
	if a, err := netip.ParseAddr(ip); err == nil {
		info.addr = a
	}
	for i := range e.cidrs {
		if e.cidrs[i].matches(info.addr, idn) {
			setBit(info.bits, int32(i))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.ips[key]; old != nil {
		return old
	}
	if len(e.ips) >= maxAddrCache {
		// A long-running caller sees unboundedly many external
		// addresses; start over rather than grow forever.
		clear(e.ips)
	}
	e.ips[key] = info
	return info
}

// nameMatches reports whether a DNS name matches FQDN selector i.
func (e *Engine) nameMatches(name string, i int32) bool {
	e.mu.RLock()
	bits, ok := e.names[name]
	e.mu.RUnlock()
	if !ok {
		fq := fqdnName(name)
		bits = make([]uint64, (len(e.fqdns)+63)/64)
		for j := range e.fqdns {
			if e.fqdns[j].matches(fq) {
				setBit(bits, int32(j))
			}
		}
		e.mu.Lock()
		if len(e.names) >= maxAddrCache {
			clear(e.names)
		}
		e.names[name] = bits
		e.mu.Unlock()
	}
	return hasBit(bits, i)
}

// matchPeer reports whether the rule selects the peer.
func (e *Engine) matchPeer(en *entry, p *peerView, reqs []int32) bool {
	if en.none {
		return false
	}
	if en.all {
		return true
	}
	bits := p.id.bits
	for _, s := range en.lblSels {
		if hasBit(bits, s) {
			return true
		}
	}
	if len(en.epSels) > 0 {
		reqOK := true
		for _, r := range reqs {
			if !hasBit(bits, r) {
				reqOK = false
				break
			}
		}
		if reqOK {
			for _, s := range en.epSels {
				if hasBit(bits, s) {
					return true
				}
			}
		}
	}
	if p.ip != nil {
		for _, c := range en.cidrSels {
			if hasBit(p.ip.bits, c) {
				return true
			}
		}
	}
	if p.id.world && len(en.fqdnSels) > 0 {
		for _, s := range en.fqdnSels {
			if hasBit(p.id.fqdnBits, s) {
				return true
			}
		}
		for _, name := range p.names {
			for _, s := range en.fqdnSels {
				if e.nameMatches(name, s) {
					return true
				}
			}
		}
	}
	return false
}
