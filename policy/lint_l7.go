package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// RuleL7Conflict flags two rules that give the same peer, on the same
// port, L7 rules of different protocols (HTTP and DNS, say) for endpoints
// both select. Cilium merges the rules of one peer and port into one
// proxy redirect with one parser and refuses to compute the endpoint's
// policy when the parsers differ ("cannot merge conflicting L7 parsers"),
// so the endpoint keeps its previous policy.
const RuleL7Conflict = "l7-parser-conflict"

// l7Use is one peer given L7 rules of one kind on one port range.
type l7Use struct {
	path   string // the rules field
	egress bool
	peer   string
	proto  string // TCP, UDP, ...; "" for any
	lo, hi int    // port range; 0, 0 for every port
	named  string // a named port instead of a range
	kind   string // http, kafka, dns, or the l7proto name
}

func l7Kind(r *L7Rules) string {
	switch {
	case r == nil:
		return ""
	case len(r.HTTP) > 0:
		return "http"
	case len(r.Kafka) > 0:
		return "kafka"
	case len(r.DNS) > 0:
		return "dns"
	}
	return r.L7Proto
}

// peerKeys names a rule's peers the way Cilium keys its merged rules: one
// selector per peer, compared as written; a rule without peers selects
// every peer.
func peerKeys(fields ...any) []string {
	var out []string
	for i := 0; i+1 < len(fields); i += 2 {
		b, _ := json.Marshal(fields[i+1])
		var items []json.RawMessage
		if json.Unmarshal(b, &items) != nil {
			continue
		}
		for _, it := range items {
			out = append(out, fields[i].(string)+":"+string(it))
		}
	}
	if len(out) == 0 {
		out = []string{"*"}
	}
	return out
}

func l7Uses(r *Rule, rp string) []l7Use {
	var out []l7Use
	// peers are named (marshalled) only for items with L7 rules, the
	// few: lint reads every rule
	add := func(egress bool, peers func() []string, prs []PortRule, path string) {
		var keys []string
		for j := range prs {
			kind := l7Kind(prs[j].Rules)
			if kind == "" {
				continue
			}
			rules := index(path+".toPorts", j) + ".rules"
			ports := prs[j].Ports
			if len(ports) == 0 {
				ports = []PortProtocol{{}}
			}
			for _, pp := range ports {
				u := l7Use{path: rules, egress: egress, proto: strings.ToUpper(pp.Protocol), kind: kind}
				if u.proto == "ANY" {
					u.proto = ""
				}
				if n, err := strconv.Atoi(pp.Port); err == nil {
					u.lo, u.hi = n, max(n, int(pp.EndPort))
				} else if pp.Port != "" {
					u.named = pp.Port
				}
				if keys == nil {
					keys = peers()
				}
				for _, peer := range keys {
					u.peer = peer
					out = append(out, u)
				}
			}
		}
	}
	for i := range r.Ingress {
		in := &r.Ingress[i]
		peers := func() []string {
			return peerKeys("fromEndpoints", in.FromEndpoints, "fromCIDR", in.FromCIDR,
				"fromCIDRSet", in.FromCIDRSet, "fromEntities", in.FromEntities, "fromNodes", in.FromNodes)
		}
		add(false, peers, in.ToPorts, index(rp+".ingress", i))
	}
	for i := range r.Egress {
		e := &r.Egress[i]
		peers := func() []string {
			return peerKeys("toEndpoints", e.ToEndpoints, "toCIDR", e.ToCIDR,
				"toCIDRSet", e.ToCIDRSet, "toEntities", e.ToEntities, "toNodes", e.ToNodes, "toFQDNs", e.ToFQDNs)
		}
		add(true, peers, e.ToPorts, index(rp+".egress", i))
	}
	return out
}

// clash reports whether two uses land on one merged peer and port with
// different parsers. A protocol of ANY stands for each protocol.
func (a l7Use) clash(b l7Use) bool {
	if a.egress != b.egress || a.peer != b.peer || a.kind == b.kind {
		return false
	}
	if a.proto != "" && b.proto != "" && a.proto != b.proto {
		return false
	}
	// Cilium merges rules whose port entries are equal; overlapping
	// ranges stay apart
	return a.named == b.named && a.lo == b.lo && a.hi == b.hi
}

func (u l7Use) port() string {
	switch {
	case u.named != "":
		return u.named
	case u.lo == 0:
		return "every port"
	case u.hi > u.lo:
		return fmt.Sprintf("ports %d-%d", u.lo, u.hi)
	}
	return "port " + strconv.Itoa(u.lo)
}

// l7Conflicts compares r's L7 uses with those of every rule before it, in
// its own policy or another in scope, whose endpoints may overlap.
// uses is l7Uses of a rule, computed once: every later rule in scope
// compares itself with it.
func (l *linter) uses(r *Rule, rp string) []l7Use {
	if u, ok := l.l7uses[r]; ok {
		return u
	}
	if l.l7uses == nil {
		l.l7uses = map[*Rule][]l7Use{}
	}
	u := l7Uses(r, rp)
	l.l7uses[r] = u
	return u
}

func (l *linter) l7Conflicts(p *Policy, r *Rule, rp string) {
	mine := l.uses(r, rp)
	if len(mine) == 0 || synthetic(p) {
		return
	}
	if l.order == nil {
		l.order = map[*Policy]int{}
		for i, q := range l.set {
			l.order[q] = i
		}
	}
	report := func(q *Policy, u, theirs l7Use) {
		dir := "ingress"
		if u.egress {
			dir = "egress"
		}
		line, _ := q.Origin.Position(theirs.path)
		l.add(p, u.path, SeverityError, RuleL7Conflict,
			"give one peer and port one L7 protocol: split the port, or drop one set of rules",
			"%s %s rules for %s on %s clash with %s rules for the same peer and port in %s (line %d): Cilium cannot merge the two parsers and does not compute the policy of endpoints both select",
			dir, u.kind, peerLabel(u.peer), u.port(), theirs.kind, policyLabel(q), line)
	}
	for i, u := range mine {
		for _, theirs := range mine[:i] {
			if u.clash(theirs) {
				report(p, u, theirs)
				return
			}
		}
	}
	for _, q := range l.scope(p) {
		if l.order[q] > l.order[p] || synthetic(q) {
			continue
		}
		for i, o := range q.Rules() {
			if q == p && o == r {
				break
			}
			if !mayOverlap(o.EndpointSelector, r.EndpointSelector) {
				continue
			}
			for _, theirs := range l.uses(o, rulePath(q, i)) {
				for _, u := range mine {
					if u.clash(theirs) {
						report(q, u, theirs)
						return
					}
				}
			}
		}
	}
}

func peerLabel(key string) string {
	if key == "*" {
		return "every peer"
	}
	return key
}
