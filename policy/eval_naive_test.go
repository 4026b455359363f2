package policy

import (
	"net/netip"

	"github.com/posture-dev/posture/flow"
)

// naiveEvaluate decides a flow straight from the compiled rules, with no
// identity cache, selector index or bitsets: every rule's subject and
// peers are matched against the labels on every call. It is the baseline
// of the benchmarks and the oracle the fuzz test holds Evaluate to.
func naiveEvaluate(e *Engine, f *flow.Flow) Result {
	if f.IsReply {
		d := DirectionResult{Decision: Allowed, Reason: reasonReply}
		return Result{Verdict: Allowed, Egress: d, Ingress: d}
	}
	src, dst := e.resolveUncached(&f.Source), e.resolveUncached(&f.Destination)
	var r Result
	if src.endpoint && !src.host {
		r.Egress.Decision = naiveDirection(e, src, dst, &f.Destination, f, false)
	}
	if dst.endpoint && !dst.host {
		r.Ingress.Decision = naiveDirection(e, dst, src, &f.Source, f, true)
	}
	r.Verdict = combine(r.Egress.Decision, r.Ingress.Decision)
	return r
}

// resolveUncached derives labels like resolve but matches no selectors.
func (e *Engine) resolveUncached(ep *flow.Endpoint) *identity {
	return (&Engine{}).resolve(ep)
}

func naiveDirection(e *Engine, subj, peer *identity, peerEP *flow.Endpoint, f *flow.Flow, ingress bool) Decision {
	var selected, defaultDeny bool
	var mine []*entry
	for _, en := range e.entries {
		if en.ingress != ingress || !e.sels[en.subject].matches(subj.labels) {
			continue
		}
		selected = true
		defaultDeny = defaultDeny || en.defaultDeny
		mine = append(mine, en)
	}
	if subj.init {
		selected, defaultDeny = true, true
	}
	if !selected {
		return NotSelected
	}
	var allowReqs, denyReqs []int32
	for _, en := range mine {
		if en.deny {
			denyReqs = append(denyReqs, en.reqSels...)
		} else {
			allowReqs = append(allowReqs, en.reqSels...)
		}
	}
	addr, _ := netip.ParseAddr(peerEP.IP)
	peerMatches := func(en *entry, reqs []int32) bool {
		if en.none {
			return false
		}
		if en.all {
			return true
		}
		for _, s := range en.lblSels {
			if e.sels[s].matches(peer.labels) {
				return true
			}
		}
		reqOK := true
		for _, s := range reqs {
			if !e.sels[s].matches(peer.labels) {
				reqOK = false
			}
		}
		for _, s := range en.epSels {
			if reqOK && e.sels[s].matches(peer.labels) {
				return true
			}
		}
		if peer.world {
			for _, c := range en.cidrSels {
				if e.cidrs[c].matches(addr, peerEP.Identity) {
					return true
				}
			}
			for _, l := range peer.labels {
				for _, s := range en.fqdnSels {
					if l.Source == flow.SourceFQDN && e.fqdns[s].label == l.Key {
						return true
					}
				}
			}
			for _, n := range peerEP.Names {
				for _, s := range en.fqdnSels {
					if e.fqdns[s].matches(fqdnName(n)) {
						return true
					}
				}
			}
		}
		return false
	}
	proto, port := f.Protocol, f.Port()
	for _, en := range mine {
		if en.deny && en.matchL4(proto, port) && peerMatches(en, denyReqs) {
			return Denied
		}
	}
	if !defaultDeny {
		return Allowed
	}
	for _, en := range mine {
		if en.deny || !en.matchL4(proto, port) || !peerMatches(en, allowReqs) {
			continue
		}
		if l7 := en.l7For(proto, port); l7 != nil && l7.check(f) == l7Rejected {
			continue
		}
		return Allowed
	}
	if ingress && peer.localhost && !e.opts.DisallowLocalhost && len(mine) > 0 {
		return Allowed
	}
	return DefaultDenied
}
