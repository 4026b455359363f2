package policy

import (
	"net/netip"
	"strconv"

	"github.com/posture-dev/posture/flow"
)

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
