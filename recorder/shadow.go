package recorder

import (
	"net/netip"
	"slices"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// peerClass is an identity as the shadow table sees it: the number the
// datapath resolves an address to, and an endpoint to evaluate policy on.
type peerClass struct {
	id flow.Identity
	ep flow.Endpoint
}

// shadowRow says: traffic between subject and peer in dir on proto, ports
// lo..hi, gets verdict (only ALLOWED rows are stored; AUDIT is the
// default of a selected subject).
type shadowRow struct {
	Subject, Peer uint32
	Dir, Proto    uint8
	Lo, Hi        uint16
	Verdict       uint8
}

type subjectDir struct {
	ID  uint32
	Dir uint8
}

// shadowTable is the compiled staged set in datapath form.
type shadowTable struct {
	subjects map[subjectDir]uint8
	rows     map[shadowRow]bool
}

var l4Protos = []struct {
	proto flow.Protocol
	num   uint8
}{{flow.ProtoTCP, bpf.ProtoTCP}, {flow.ProtoUDP, bpf.ProtoUDP}, {flow.ProtoSCTP, bpf.ProtoSCTP}}

// verdictOf maps the evaluator's per-direction decision under
// AsEnforced to the datapath's tag.
func verdictOf(d policy.Decision) uint8 {
	switch d {
	case policy.Allowed:
		return bpf.VerdictAllowed
	case policy.Denied, policy.DefaultDenied:
		return bpf.VerdictAudit
	}
	return bpf.VerdictNotSelected
}

func decide(eng *policy.Engine, f *flow.Flow, dir uint8) policy.Decision {
	r := eng.Evaluate(f)
	if dir == bpf.DirEgress {
		return r.Egress.Decision
	}
	return r.Ingress.Decision
}

// shadowCache keeps each (subject, peer, direction)'s rows for one
// compiled policy set, so an endpoint or DNS change evaluates only the
// pairs it adds rather than the whole table.
type shadowCache struct {
	eng      *policy.Engine
	facts    *policyFacts
	selected map[subjectDir]bool
	pairs    map[pairKey][]shadowRow
}

type pairKey struct {
	subject, peer flow.Identity
	dir           uint8
}

// compileShadow evaluates the engine for every (subject, peer, direction,
// protocol, port interval) that can differ, which the policy facts bound.
// cache may be nil.
func compileShadow(eng *policy.Engine, facts *policyFacts, subjects, peers []peerClass, cache *shadowCache) *shadowTable {
	t := &shadowTable{subjects: map[subjectDir]uint8{}, rows: map[shadowRow]bool{}}
	if eng == nil {
		return t
	}
	if cache == nil {
		cache = &shadowCache{}
	}
	if cache.eng != eng || cache.facts != facts {
		*cache = shadowCache{eng: eng, facts: facts, selected: map[subjectDir]bool{}, pairs: map[pairKey][]shadowRow{}}
	}
	used := make(map[pairKey][]shadowRow, len(cache.pairs))
	probe := peerClass{id: flow.IdentityWorld, ep: flow.Endpoint{Identity: flow.IdentityWorld}}
	for _, s := range subjects {
		for _, dir := range []uint8{bpf.DirEgress, bpf.DirIngress} {
			sd := subjectDir{uint32(s.id), dir}
			sel, known := cache.selected[sd]
			if !known {
				f := evalFlow(s, probe, dir, flow.ProtoTCP, 1)
				sel = decide(eng, &f, dir) != policy.NotSelected
				cache.selected[sd] = sel
			}
			if !sel {
				continue
			}
			t.subjects[sd] = bpf.VerdictAudit
			for _, p := range peers {
				k := pairKey{s.id, p.id, dir}
				rows, ok := cache.pairs[k]
				if !ok {
					rows = peerRows(eng, facts, s, p, dir)
				}
				used[k] = rows
				for _, r := range rows {
					t.rows[r] = true
				}
			}
		}
	}
	cache.pairs = used
	return t
}

// peerRows are the allowed port ranges between one subject and one peer.
func peerRows(eng *policy.Engine, facts *policyFacts, s, p peerClass, dir uint8) []shadowRow {
	var rows []shadowRow
	emit := func(proto uint8, lo, hi uint16) {
		rows = append(rows, shadowRow{Subject: uint32(s.id), Peer: uint32(p.id), Dir: dir, Proto: proto, Lo: lo, Hi: hi, Verdict: bpf.VerdictAllowed})
	}
	for _, lp := range l4Protos {
		// intervals between consecutive break points share a verdict
		start, open := uint16(0), false
		for i, lo := range facts.breaks {
			hi := uint16(65535)
			if i+1 < len(facts.breaks) {
				hi = facts.breaks[i+1] - 1
			}
			f := evalFlow(s, p, dir, lp.proto, lo)
			allowed := decide(eng, &f, dir) == policy.Allowed
			switch {
			case allowed && !open:
				start, open = lo, true
			case !allowed && open:
				emit(lp.num, start, lo-1)
				open = false
			}
			if hi == 65535 && open {
				emit(lp.num, start, 65535)
				open = false
			}
		}
	}
	for _, ic := range []struct {
		proto flow.Protocol
		num   uint8
		echo  uint16
	}{{flow.ProtoICMP, bpf.ProtoICMP, 8}, {flow.ProtoICMPv6, bpf.ProtoICMPv6, 128}} {
		if !facts.icmp {
			// no ICMP rule anywhere: one verdict for every type
			f := evalFlow(s, p, dir, ic.proto, ic.echo)
			if decide(eng, &f, dir) == policy.Allowed {
				emit(ic.num, 0, 255)
			}
			continue
		}
		start, open := 0, false
		for typ := 0; typ <= 256; typ++ {
			allowed := false
			if typ < 256 {
				f := evalFlow(s, p, dir, ic.proto, uint16(typ))
				allowed = decide(eng, &f, dir) == policy.Allowed
			}
			if allowed && !open {
				start, open = typ, true
			} else if !allowed && open {
				emit(ic.num, uint16(start), uint16(typ-1))
				open = false
			}
		}
	}
	return rows
}

// evalFlow is the flow the shadow verdict answers for: subject s sending
// (egress) or receiving (ingress) from peer p.
func evalFlow(s, p peerClass, dir uint8, proto flow.Protocol, port uint16) flow.Flow {
	f := flow.Flow{Source: s.ep, Destination: p.ep, Protocol: proto}
	if dir == bpf.DirIngress {
		f.Source, f.Destination = p.ep, s.ep
	}
	if proto == flow.ProtoICMP || proto == flow.ProtoICMPv6 {
		f.ICMPType = uint8(port)
	} else {
		f.DstPort = port
	}
	return f
}

// worldClasses turns the policy prefixes and DNS-learned addresses into
// datapath prefixes with class identities, and the peers to evaluate.
func worldClasses(facts *policyFacts, alloc *Allocator, dnsIPs map[netip.Addr][]string) (map[netip.Prefix]uint32, []peerClass) {
	cidrs := map[netip.Prefix]uint32{}
	peers := []peerClass{{id: flow.IdentityWorld, ep: flow.Endpoint{Identity: flow.IdentityWorld}}}
	for _, p := range facts.prefixes {
		rep, ok := facts.representative(p)
		if !ok {
			continue
		}
		id := alloc.Local("cidr:" + p.String())
		cidrs[p] = uint32(id)
		peers = append(peers, peerClass{id: id, ep: flow.Endpoint{Identity: flow.IdentityWorld, IP: rep.String()}})
	}
	if facts.fqdn {
		ips := make([]netip.Addr, 0, len(dnsIPs))
		for ip := range dnsIPs {
			ips = append(ips, ip)
		}
		slices.SortFunc(ips, netip.Addr.Compare)
		seen := map[flow.Identity]bool{}
		for _, ip := range ips {
			names := dnsIPs[ip]
			within := ""
			if p, ok := facts.longestPrefix(ip); ok {
				within = p.String()
			}
			key := "dns:" + within + "|"
			for _, n := range names {
				key += n + ","
			}
			id := alloc.Local(key)
			cidrs[netip.PrefixFrom(ip, ip.BitLen())] = uint32(id)
			if !seen[id] {
				seen[id] = true
				peers = append(peers, peerClass{id: id, ep: flow.Endpoint{Identity: flow.IdentityWorld, IP: ip.String(), Names: names}})
			}
		}
	}
	return cidrs, peers
}
