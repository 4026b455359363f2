package recorder

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/posture-dev/posture/policy"
)

// policyFacts are the parts of a staged set that decide how finely the
// shadow table must be computed: the CIDRs that split world addresses into
// classes, the port boundaries that split the port space, and whether ICMP
// types or DNS names matter at all.
type policyFacts struct {
	prefixes []netip.Prefix // sorted, deduplicated, masked
	// breaks are the ports where a verdict can change: each range start
	// and the port after each range end.
	breaks  []uint16
	icmp    bool
	fqdn    bool
	unknown []string // fields the walk could not read (reported, not fatal)
}

// factsOf walks the policies' JSON form: the set of keys to look at is
// small and stable, and walking generically keeps this independent of how
// the policy types nest.
func factsOf(ps []*policy.Policy) (*policyFacts, error) {
	f := &policyFacts{}
	breaks := map[uint32]bool{0: true}
	for _, p := range ps {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("reading policy %s: %w", p.Metadata.Name, err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("reading policy %s: %w", p.Metadata.Name, err)
		}
		f.walk(v, "", breaks)
	}
	slices.SortFunc(f.prefixes, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	f.prefixes = slices.Compact(f.prefixes)
	for p := range breaks {
		if p <= 65535 {
			f.breaks = append(f.breaks, uint16(p))
		}
	}
	slices.Sort(f.breaks)
	return f, nil
}

func (f *policyFacts) addPrefix(s string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, err2 := netip.ParseAddr(s)
		if err2 != nil {
			f.unknown = append(f.unknown, s)
			return
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	f.prefixes = append(f.prefixes, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked())
}

func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

func (f *policyFacts) walk(v any, key string, breaks map[uint32]bool) {
	switch t := v.(type) {
	case map[string]any:
		if ports, ok := t["port"]; ok && key == "ports" {
			f.addPorts(ports, t["endPort"], breaks)
		}
		for k, c := range t {
			switch k {
			case "toCIDR", "fromCIDR":
				for _, s := range asStrings(c) {
					f.addPrefix(s)
				}
				continue
			case "cidr", "except":
				if key == "toCIDRSet" || key == "fromCIDRSet" {
					for _, s := range asStrings(c) {
						f.addPrefix(s)
					}
					continue
				}
			case "toFQDNs":
				if l, ok := c.([]any); ok && len(l) > 0 {
					f.fqdn = true
				}
			case "icmps":
				if l, ok := c.([]any); ok && len(l) > 0 {
					f.icmp = true
				}
			}
			f.walk(c, k, breaks)
		}
	case []any:
		for _, c := range t {
			f.walk(c, key, breaks)
		}
	}
}

func (f *policyFacts) addPorts(port, end any, breaks map[uint32]bool) {
	s, _ := port.(string)
	lo, err := strconv.ParseUint(s, 10, 16)
	if err != nil || lo == 0 {
		return // named ports and "any port" add no boundary
	}
	hi := lo
	if e, ok := end.(float64); ok && e >= float64(lo) && e <= 65535 {
		hi = uint64(e)
	}
	breaks[uint32(lo)] = true
	breaks[uint32(hi)+1] = true
}

func asStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// longestPrefix returns the most specific policy prefix holding a, if any.
func (f *policyFacts) longestPrefix(a netip.Addr) (netip.Prefix, bool) {
	var best netip.Prefix
	found := false
	for _, p := range f.prefixes {
		if p.Contains(a) && (!found || p.Bits() > best.Bits()) {
			best, found = p, true
		}
	}
	return best, found
}

// representative finds an address in p that no more specific policy
// prefix holds, so that evaluating it answers for the whole class of
// addresses whose longest match is p. ok is false when sub-prefixes cover
// p entirely (the class is empty).
func (f *policyFacts) representative(p netip.Prefix) (netip.Addr, bool) {
	var subs []netip.Prefix
	for _, q := range f.prefixes {
		if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
			subs = append(subs, q)
		}
	}
	return findUncovered(p, subs, 0)
}

func findUncovered(p netip.Prefix, subs []netip.Prefix, depth int) (netip.Addr, bool) {
	covered := false
	var inside []netip.Prefix
	for _, q := range subs {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			covered = true
			break
		}
		if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
			inside = append(inside, q)
		}
	}
	if covered {
		return netip.Addr{}, false
	}
	if len(inside) == 0 {
		return p.Addr(), true
	}
	if p.Bits() == p.Addr().BitLen() || depth > 128 {
		return netip.Addr{}, false
	}
	for _, half := range halves(p) {
		if a, ok := findUncovered(half, inside, depth+1); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func halves(p netip.Prefix) [2]netip.Prefix {
	lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	b := p.Addr().AsSlice()
	bit := p.Bits()
	b[bit/8] |= 0x80 >> (bit % 8)
	a, _ := netip.AddrFromSlice(b)
	return [2]netip.Prefix{lo, netip.PrefixFrom(a, p.Bits()+1)}
}
