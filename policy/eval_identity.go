package policy

import (
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"github.com/posture-dev/posture/flow"
)

// identity is one distinct endpoint identity as the engine sees it: the
// selectors that match its labels and, once it has been a subject, its
// own per-direction policy.
type identity struct {
	idx       uint32      // dense index, for the verdict cache
	raw       flow.Labels // the labels as given, to verify numeric-id cache hits
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
		if id == nil {
			// A number seen first: resolved without building its label
			// key. An identity is a function of its endpoint, so one
			// resolved again elsewhere under another key is equal.
			id = e.resolve(ep)
			e.mu.Lock()
			e.nextIdx++
			id.idx = e.nextIdx
			e.mu.Unlock()
			return e.byID.store(uint64(ep.Identity), id, 0)
		}
	}
	var buf [256]byte
	key := appendEndpointKey(buf[:0], ep)
	e.mu.RLock()
	id := e.byKey[string(key)] // looking up allocates no string
	e.mu.RUnlock()
	if id == nil {
		id = e.resolve(ep)
		e.mu.Lock()
		if old := e.byKey[string(key)]; old != nil {
			id = old
		} else {
			e.nextIdx++
			id.idx = e.nextIdx
			e.byKey[string(key)] = id
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

func appendEndpointKey(b []byte, ep *flow.Endpoint) []byte {
	b = append(append(b, ep.Namespace...), 0)
	if ep.Identity.IsReserved() || ep.Identity >= flow.IdentityMinLocal {
		b = strconv.AppendUint(b, uint64(ep.Identity), 10)
	}
	return ep.Labels.AppendKey(append(b, 0))
}

// resolve derives an identity's effective labels and matching selectors.
func (e *Engine) resolve(ep *flow.Endpoint) *identity {
	// Label slices passed in are immutable (see Evaluate): the identity
	// keeps the caller's, and appending to ls copies it first.
	id := &identity{raw: ep.Labels, first: unsafe.SliceData(ep.Labels), namespace: ep.Namespace}
	ls := slices.Clip(ep.Labels)
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
	if !ls.IsSorted() {
		ls = slices.Clone(ls)
		ls.Sort()
	}
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
