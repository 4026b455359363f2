package advisor

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/posture-dev/posture/policy"
)

// fqdnGroup is one toFQDNs selector and the names it was made from.
type fqdnGroup struct {
	sel   policy.FQDNSelector
	names []string
}

func (g fqdnGroup) key() string {
	if g.sel.MatchPattern != "" {
		return "p:" + g.sel.MatchPattern
	}
	return "n:" + g.sel.MatchName
}

// fqdnGroups turns observed names into selectors: exact names, and one
// "*.parent" pattern once `siblings` names share a parent of at least two
// labels (never "*.com"). Cilium's "*" stays within one DNS label, so the
// pattern covers exactly the siblings' level.
func fqdnGroups(names []string, siblings int) map[string]fqdnGroup {
	byParent := map[string][]string{}
	for _, n := range names {
		if i := strings.IndexByte(n, '.'); i > 0 {
			parent := n[i+1:]
			if strings.Contains(parent, ".") {
				byParent[parent] = append(byParent[parent], n)
			}
		}
	}
	out := make(map[string]fqdnGroup, len(names))
	for _, n := range names {
		out[n] = fqdnGroup{sel: policy.FQDNSelector{MatchName: n}, names: []string{n}}
	}
	for parent, ns := range byParent {
		slices.Sort(ns)
		ns = slices.Compact(ns)
		if len(ns) < siblings {
			continue
		}
		g := fqdnGroup{sel: policy.FQDNSelector{MatchPattern: "*." + parent}, names: ns}
		for _, n := range ns {
			out[n] = g
		}
	}
	return out
}

// fqdnMatches reports whether a selector matches a name the way Cilium's
// matchPattern does for the patterns the advisor writes.
func fqdnMatches(sel policy.FQDNSelector, name string) bool {
	if sel.MatchName != "" {
		return sel.MatchName == name
	}
	p := sel.MatchPattern
	if p == "*" {
		return true
	}
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		head, tail, found := strings.Cut(name, ".")
		return found && head != "" && tail == rest
	}
	return p == name
}

// cidrGroup is one toCIDRSet entry and the addresses it was made from.
type cidrGroup struct {
	prefix netip.Prefix
	ips    []netip.Addr
}

// aggregateIPs maps each address to its prefix: a /24 (IPv4) or /64
// (IPv6) once `k` addresses of it were seen, else the address itself.
func aggregateIPs(ips []netip.Addr, k int) map[netip.Addr]netip.Prefix {
	groups := map[netip.Prefix][]netip.Addr{}
	for _, ip := range ips {
		bits := 24
		if ip.Is6() {
			bits = 64
		}
		p, _ := ip.Prefix(bits)
		groups[p] = append(groups[p], ip)
	}
	out := make(map[netip.Addr]netip.Prefix, len(ips))
	for p, as := range groups {
		slices.SortFunc(as, func(a, b netip.Addr) int { return a.Compare(b) })
		as = slices.Compact(as)
		for _, a := range as {
			if len(as) >= k {
				out[a] = p
			} else {
				out[a] = netip.PrefixFrom(a, a.BitLen())
			}
		}
	}
	return out
}
