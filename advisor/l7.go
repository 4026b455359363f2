package advisor

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// idSegment is what a generalised path segment matches: one segment.
const idSegment = "[^/]+"

// httpRules turns observed requests into method/path allow rules. Paths
// are anchored regexes (Cilium matches the whole path); a segment position
// where `ids` or more values share everything else becomes [^/]+, so
// /orders/1, /orders/2, /orders/3 allow /orders/<any id>, and nothing
// deeper. A query string seen on a path is allowed to vary.
func httpRules(samples map[flow.HTTPSample]uint64, ids int) []policy.PortRuleHTTP {
	type pat struct {
		segs  []string // regex-quoted segments, or idSegment
		query bool
	}
	byMethod := map[string][]pat{}
	for s := range samples {
		if s.Method == "" {
			continue
		}
		path, _, hasQ := strings.Cut(s.Path, "?")
		if path == "" {
			path = "/"
		}
		segs := strings.Split(path, "/")
		for i := range segs {
			segs[i] = regexp.QuoteMeta(segs[i])
		}
		byMethod[strings.ToUpper(s.Method)] = append(byMethod[strings.ToUpper(s.Method)], pat{segs: segs, query: hasQ})
	}
	var out []policy.PortRuleHTTP
	methods := make([]string, 0, len(byMethod))
	for m := range byMethod {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		pats := byMethod[m]
		// Generalise one position at a time until nothing changes.
		for changed := true; changed; {
			changed = false
			for pos := 1; pos < 64 && !changed; pos++ {
				groups := map[string][]int{}
				for i, p := range pats {
					if pos >= len(p.segs) || p.segs[pos] == idSegment || p.segs[pos] == "" {
						continue
					}
					k := strings.Join(p.segs[:pos], "/") + "\x00" + strings.Join(p.segs[pos+1:], "/") + "\x00" + strconv.Itoa(len(p.segs))
					groups[k] = append(groups[k], i)
				}
				keys := make([]string, 0, len(groups))
				for k := range groups {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					idx := groups[k]
					if len(idx) < ids {
						continue
					}
					first := pats[idx[0]]
					np := pat{segs: slices.Clone(first.segs)}
					np.segs[pos] = idSegment
					drop := map[int]bool{}
					for _, i := range idx {
						np.query = np.query || pats[i].query
						drop[i] = true
					}
					var next []pat
					for i, p := range pats {
						if !drop[i] {
							next = append(next, p)
						}
					}
					pats = append(next, np)
					changed = true
					break
				}
			}
		}
		seen := map[string]bool{}
		var paths []string
		for _, p := range pats {
			re := "^" + strings.Join(p.segs, "/")
			if p.query {
				re += `(\?.*)?`
			}
			re += "$"
			if !seen[re] {
				seen[re] = true
				paths = append(paths, re)
			}
		}
		slices.Sort(paths)
		for _, p := range paths {
			out = append(out, policy.PortRuleHTTP{Method: m, Path: p})
		}
	}
	return out
}

// dnsRules narrows DNS lookups to the names observed: exact names, plus
// the FQDN selectors of the rules they back. Without observed names the
// rule stays "*", since narrowing to nothing would break every lookup.
func dnsRules(queries map[string]bool, fqdns []policy.FQDNSelector, siblings int) []policy.PortRuleDNS {
	if len(queries) == 0 && len(fqdns) == 0 {
		return []policy.PortRuleDNS{{MatchPattern: "*"}}
	}
	names := make([]string, 0, len(queries))
	for q := range queries {
		names = append(names, q)
	}
	slices.Sort(names)
	seen := map[string]bool{}
	var out []policy.PortRuleDNS
	for _, g := range fqdnGroups(names, siblings) {
		k := g.key()
		if !seen[k] {
			seen[k] = true
			out = append(out, policy.PortRuleDNS{MatchName: g.sel.MatchName, MatchPattern: g.sel.MatchPattern})
		}
	}
	for _, f := range fqdns {
		g := fqdnGroup{sel: f}
		if !seen[g.key()] {
			seen[g.key()] = true
			out = append(out, policy.PortRuleDNS{MatchName: f.MatchName, MatchPattern: f.MatchPattern})
		}
	}
	slices.SortFunc(out, func(a, b policy.PortRuleDNS) int {
		return strings.Compare(a.MatchName+"\x00"+a.MatchPattern, b.MatchName+"\x00"+b.MatchPattern)
	})
	return out
}
