package policy

import (
	"regexp"
	"slices"
	"strings"
)

// dnsSelectors lists every DNS rule selector of the policies in scope.
func dnsSelectors(scope []*Policy) []PortRuleDNS {
	var out []PortRuleDNS
	for _, q := range scope {
		for _, r := range q.Rules() {
			for _, e := range r.Egress {
				for _, pr := range e.ToPorts {
					if pr.Rules != nil {
						out = append(out, pr.Rules.DNS...)
					}
				}
			}
		}
	}
	return out
}

// dnsCovers reports whether a DNS rule makes Cilium's proxy see lookups of
// the name (or a sample name of the pattern) a toFQDNs selector uses.
func (l *linter) dnsCovers(d PortRuleDNS, f FQDNSelector) bool {
	name := f.MatchName
	if name == "" {
		name = strings.ReplaceAll(strings.ReplaceAll(f.MatchPattern, "**.", "a.b."), "*", "x")
	}
	if d.MatchName != "" {
		return fqdnName(d.MatchName) == fqdnName(name)
	}
	re, ok := l.patterns[d.MatchPattern]
	if !ok {
		re, _ = dnsPatternRegexp(d.MatchPattern)
		if l.patterns == nil {
			l.patterns = map[string]*regexp.Regexp{}
		}
		l.patterns[d.MatchPattern] = re
	}
	return re != nil && re.MatchString(fqdnName(name))
}

func (l *linter) fqdns(p *Policy, r *Rule, rp string) {
	var dns []PortRuleDNS
	loaded := false
	for i := range r.Egress {
		for j, f := range r.Egress[i].ToFQDNs {
			if !loaded {
				dns, loaded = dnsSelectors(l.scope(p)), true
			}
			path := index(index(rp+".egress", i)+".toFQDNs", j)
			hint := `add an egress rule to kube-dns with toPorts: [ { ports: [ { port: "53", protocol: ANY } ], rules: { dns: [ { matchPattern: "*" } ] } } ]`
			if len(dns) == 0 {
				l.add(p, path, SeverityWarning, RuleFQDNWithoutDNS, hint,
					"toFQDNs only matches addresses Cilium's DNS proxy saw in answers, and no policy for these endpoints sends DNS through the proxy (an egress rule with rules.dns)")
				continue
			}
			if !slices.ContainsFunc(dns, func(d PortRuleDNS) bool { return l.dnsCovers(d, f) }) {
				name := f.MatchName
				if name == "" {
					name = f.MatchPattern
				}
				l.add(p, path, SeverityWarning, RuleFQDNWithoutDNS, "add a matching matchName or matchPattern to the DNS rule",
					"no DNS rule for these endpoints matches %q, so the proxy never sees its lookups and this toFQDNs selector matches nothing", name)
			}
		}
	}
}
