package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// duplicateEntries flags list entries that repeat an earlier one of the
// same list: whole rules in a section, and peers or ports inside a rule.
func (l *linter) duplicateEntries(p *Policy, r *Rule, rp string) {
	check := func(list any, path string) {
		v := reflect.ValueOf(list)
		seen := map[string]int{}
		for i := range v.Len() {
			b, err := json.Marshal(v.Index(i).Interface())
			if err != nil {
				continue
			}
			if first, ok := seen[string(b)]; ok {
				l.add(p, index(path, i), SeverityWarning, RuleDuplicateRule, "remove the repeated entry",
					"identical to %s", p.Origin.DisplayPath(index(path, first)))
				continue
			}
			seen[string(b)] = i
		}
	}
	check(r.Ingress, rp+".ingress")
	check(r.IngressDeny, rp+".ingressDeny")
	check(r.Egress, rp+".egress")
	check(r.EgressDeny, rp+".egressDeny")
	for i := range r.Ingress {
		in, ip := &r.Ingress[i], index(rp+".ingress", i)
		check(in.FromEndpoints, ip+".fromEndpoints")
		check(in.FromEntities, ip+".fromEntities")
		check(in.FromCIDR, ip+".fromCIDR")
		check(in.FromCIDRSet, ip+".fromCIDRSet")
		for j := range in.ToPorts {
			check(in.ToPorts[j].Ports, index(ip+".toPorts", j)+".ports")
		}
	}
	for i := range r.Egress {
		eg, ep := &r.Egress[i], index(rp+".egress", i)
		check(eg.ToEndpoints, ep+".toEndpoints")
		check(eg.ToEntities, ep+".toEntities")
		check(eg.ToCIDR, ep+".toCIDR")
		check(eg.ToCIDRSet, ep+".toCIDRSet")
		check(eg.ToFQDNs, ep+".toFQDNs")
		for j := range eg.ToPorts {
			check(eg.ToPorts[j].Ports, index(ep+".toPorts", j)+".ports")
		}
	}
}

// duplicatePolicy flags a second policy with the same kind, namespace and
// name (kubectl apply keeps only the last), and whole policies whose rules
// repeat another's.
func (l *linter) duplicatePolicy(p *Policy) {
	if p.Origin.Fragment != "" {
		return
	}
	mine := l.rulesJSON(p)
	for _, q := range l.set {
		if q == p {
			return
		}
		if q == nil || q.Origin.Fragment != "" || q.Kind != p.Kind || q.Metadata.Namespace != p.Metadata.Namespace {
			continue
		}
		if q.Metadata.Name == p.Metadata.Name {
			l.add(p, "metadata.name", SeverityError, RuleDuplicatePolicy, "rename one of them or merge their rules",
				"%s %s is defined twice (also at %s:%d): applying both keeps only the last", p.Kind, policyLabel(p), q.Origin.File, q.Origin.Line)
		} else if mine != "" && mine == l.rulesJSON(q) {
			l.add(p, "spec", SeverityWarning, RuleDuplicateRule, "delete one of the two policies",
				"same rules as %s (%s:%d)", policyLabel(q), q.Origin.File, q.Origin.Line)
		}
	}
}

func (l *linter) rulesJSON(p *Policy) string {
	if s, ok := l.rules[p]; ok {
		return s
	}
	b, err := json.Marshal(p.Rules())
	if err != nil {
		b = nil
	}
	if l.rules == nil {
		l.rules = map[*Policy]string{}
	}
	l.rules[p] = string(b)
	return string(b)
}

func defaultDenyOn(r *Rule, egress bool) bool {
	if r.EnableDefaultDeny == nil {
		return true
	}
	v := r.EnableDefaultDeny.Ingress
	if egress {
		v = r.EnableDefaultDeny.Egress
	}
	return v == nil || *v
}

// mayOverlap is a cheap test whether two subject selectors can select the
// same endpoint: false only when they require different values for a key.
func mayOverlap(a, b *EndpointSelector) bool {
	if a == nil || b == nil {
		return a == b
	}
	for k, v := range a.MatchLabels {
		if w, ok := b.MatchLabels[k]; ok && w != v {
			return false
		}
	}
	return true
}

// defaultDeny flags deny-only directions: a deny rule switches its
// direction to default deny (enableDefaultDeny defaults to true) just like
// an allow rule, so all traffic not allowed elsewhere is dropped.
func (l *linter) defaultDeny(p *Policy, r *Rule, rp string) {
	if synthetic(p) {
		return
	}
	for _, egress := range []bool{false, true} {
		dir, denies, allows := "ingress", len(r.IngressDeny), len(r.Ingress)
		if egress {
			dir, denies, allows = "egress", len(r.EgressDeny), len(r.Egress)
		}
		if denies == 0 || allows > 0 || !defaultDenyOn(r, egress) || l.allowedElsewhere(p, r, egress) {
			continue
		}
		extra := ""
		if egress {
			extra = ", DNS included"
		}
		l.add(p, rp+"."+dir+"Deny", SeverityWarning, RuleDenyOnlyDefaultDeny,
			fmt.Sprintf("add the %s allows these endpoints need, or set enableDefaultDeny: { %s: false } so the policy only denies", dir, dir),
			"a deny-only policy still puts the selected endpoints into %s default deny: all %s not allowed by another policy is dropped%s, not just what this rule denies", dir, dir, extra)
	}
}

// allowedElsewhere reports whether another rule in scope with a possibly
// overlapping subject has allow rules in the direction.
func (l *linter) allowedElsewhere(p *Policy, r *Rule, egress bool) bool {
	for _, q := range l.scope(p) {
		for _, o := range q.Rules() {
			if o == r || synthetic(q) || !mayOverlap(o.EndpointSelector, r.EndpointSelector) {
				continue
			}
			if egress && len(o.Egress) > 0 || !egress && len(o.Ingress) > 0 {
				return true
			}
		}
	}
	return false
}

// egressDNS flags egress allow rules that switch their endpoints to egress
// default deny while no policy in scope allows DNS.
func (l *linter) egressDNS(p *Policy, r *Rule, rp string) {
	if synthetic(p) || len(r.Egress) == 0 || !defaultDenyOn(r, true) {
		return
	}
	for _, q := range l.scope(p) {
		for _, o := range q.Rules() {
			for i := range o.Egress {
				if allowsDNS(q, &o.Egress[i]) {
					return
				}
			}
		}
	}
	sev, who := SeverityInfo, "the selected endpoints"
	if es := r.EndpointSelector; es != nil && len(es.MatchLabels) == 0 && len(es.MatchExpressions) == 0 {
		sev, who = SeverityWarning, "every pod of namespace "+p.Metadata.Namespace
		if p.Clusterwide() {
			who = "every pod of the cluster"
		} else if p.Metadata.Namespace == "" {
			who = "every pod of the namespace"
		}
	}
	l.add(p, rp+".egress", sev, RuleEgressWithoutDNS,
		`allow DNS: an egress rule toEndpoints { io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns } with toPorts port "53" protocol ANY`,
		"this egress section puts %s into egress default deny, and no policy for them allows DNS: name lookups fail, along with all egress not listed here", who)
}

// allowsDNS reports whether an egress rule allows port 53 to something
// that may be the cluster's DNS server.
func allowsDNS(p *Policy, e *EgressRule) bool {
	ports := len(e.ToPorts) == 0
	for _, pr := range e.ToPorts {
		for _, pp := range pr.Ports {
			if pp.Protocol == "TCP" || pp.Protocol == "SCTP" {
				continue
			}
			n, msg := parsePort(pp.Port)
			if msg == "" && (n == 53 || n == 0 || n < 53 && int(pp.EndPort) >= 53 && n > 0 || pp.Port == "dns" || pp.Port == "domain") {
				ports = true
			}
		}
	}
	if !ports {
		return false
	}
	peerless := len(e.ToEndpoints) == 0 && len(e.ToEntities) == 0 && len(e.ToCIDR) == 0 && len(e.ToCIDRSet) == 0 &&
		len(e.ToFQDNs) == 0 && len(e.ToServices) == 0 && len(e.ToNodes) == 0 && len(e.ToGroups) == 0
	if peerless || slices.Contains(e.ToEntities, EntityCluster) || slices.Contains(e.ToEntities, EntityAll) {
		return true
	}
	if len(e.ToPorts) > 0 && (len(e.ToCIDR) > 0 || len(e.ToCIDRSet) > 0) {
		return true // an explicit port 53 to an address: a node-local or external resolver
	}
	for _, s := range e.ToEndpoints {
		if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 && (p.Clusterwide() || p.Metadata.Namespace == "kube-system") {
			return true
		}
		for k, v := range s.MatchLabels {
			switch k := stripSource(k); {
			case k == keyPodNamespace && v == "kube-system",
				k == "k8s-app" && (v == "kube-dns" || v == "coredns"):
				return true
			}
		}
	}
	return false
}

// nodeWideKeys are node labels every node of a kind carries.
var nodeWideKeys = []string{"kubernetes.io/os", "beta.kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/arch"}

func (l *linter) host(p *Policy, r *Rule, rp string) {
	ns := r.NodeSelector
	if ns == nil {
		return
	}
	path := rp + ".nodeSelector"
	l.add(p, path, SeverityInfo, RuleHostFirewall, "",
		"host policies take effect only when Cilium runs with hostFirewall.enabled=true")
	all := len(ns.MatchExpressions) == 0
	for k := range ns.MatchLabels {
		if !slices.Contains(nodeWideKeys, stripSource(k)) {
			all = false
		}
	}
	if !all {
		return
	}
	what := "every node"
	if len(ns.MatchLabels) > 0 {
		keys := sortedKeys(ns.MatchLabels)
		what = fmt.Sprintf("every node (%s=%s matches all of them)", keys[0], ns.MatchLabels[keys[0]])
	}
	extra := ""
	if len(r.Ingress) > 0 && !ingressAllowsOutside(r) && defaultDenyOn(r, false) {
		extra = "; its ingress allows nothing from outside the cluster, so SSH, load-balancer health checks and other external access to the nodes are dropped"
	}
	l.add(p, path, SeverityWarning, RuleHostAllNodes, "roll a host policy out to one node first: nodeSelector: { matchLabels: { kubernetes.io/hostname: <node> } }",
		"nodeSelector selects %s at once, so a mistake can lock you out of all of them%s", what, extra)
}

func ingressAllowsOutside(r *Rule) bool {
	for _, in := range r.Ingress {
		if len(in.FromCIDR) > 0 || len(in.FromCIDRSet) > 0 ||
			slices.ContainsFunc(in.FromEntities, func(e string) bool { return e == EntityWorld || e == EntityAll }) {
			return true
		}
	}
	return false
}

// direction compares a policy name of the form "allow-X-to-Y" with its
// rules: an ingress rule should select Y and allow from X, an egress rule
// should select X and allow to Y. Reversed, it allows the opposite flow.
func (l *linter) direction(p *Policy, r *Rule, rp string) {
	name := strings.TrimPrefix(strings.TrimPrefix(p.Metadata.Name, "allow-"), "deny-")
	from, to, ok := strings.Cut(name, "-to-")
	if !ok || from == "" || to == "" || r.EndpointSelector == nil || synthetic(p) {
		return
	}
	subject := selectorValues(r.EndpointSelector)
	for i := range r.Ingress {
		var peers []string
		for j := range r.Ingress[i].FromEndpoints {
			peers = append(peers, selectorValues(&r.Ingress[i].FromEndpoints[j])...)
		}
		if nameMatches(subject, from) && nameMatches(peers, to) && !nameMatches(subject, to) {
			l.add(p, index(rp+".ingress", i), SeverityWarning, RuleDirection,
				fmt.Sprintf("for %s → %s select %s in endpointSelector and put %s in fromEndpoints, or write an egress rule on %s", from, to, to, from, from),
				"the name says traffic goes from %s to %s, but this ingress rule selects %s as the destination and allows traffic from %s", from, to, from, to)
		}
	}
	for i := range r.Egress {
		var peers []string
		for j := range r.Egress[i].ToEndpoints {
			peers = append(peers, selectorValues(&r.Egress[i].ToEndpoints[j])...)
		}
		if nameMatches(subject, to) && nameMatches(peers, from) && !nameMatches(subject, from) {
			l.add(p, index(rp+".egress", i), SeverityWarning, RuleDirection,
				fmt.Sprintf("for %s → %s select %s in endpointSelector and put %s in toEndpoints", from, to, from, to),
				"the name says traffic goes from %s to %s, but this egress rule selects %s as the source and allows traffic to %s", from, to, to, from)
		}
	}
}

func selectorValues(s *EndpointSelector) []string {
	var out []string
	for _, v := range s.MatchLabels {
		out = append(out, v)
	}
	for _, e := range s.MatchExpressions {
		if e.Operator == OpIn {
			out = append(out, e.Values...)
		}
	}
	return out
}

func nameMatches(values []string, token string) bool {
	return slices.ContainsFunc(values, func(v string) bool {
		return v == token || v == "app-"+token || "app-"+v == token
	})
}

// scope lists the policies whose rules may apply to the same endpoints as
// p's: for a namespaced policy its namespace's policies and every
// clusterwide one; for a clusterwide policy all whole policies; for a
// fragment, whose namespace is unknown, the policies of its own file.
func (l *linter) scope(p *Policy) []*Policy {
	key := "ns:" + p.Metadata.Namespace
	switch {
	case p.Origin.Fragment != "":
		key = "file:" + p.Origin.File
	case p.Clusterwide():
		key = "cluster"
	}
	if s, ok := l.scopes[key]; ok {
		return s
	}
	var out []*Policy
	for _, q := range l.set {
		switch {
		case q == nil:
		case p.Origin.Fragment != "" || q.Origin.Fragment != "":
			if q == p || q.Origin.Fragment != "" && p.Origin.Fragment != "" && q.Origin.File == p.Origin.File {
				out = append(out, q)
			}
		case p.Clusterwide() || q.Clusterwide() || q.Metadata.Namespace == p.Metadata.Namespace:
			out = append(out, q)
		}
	}
	if l.scopes == nil {
		l.scopes = map[string][]*Policy{}
	}
	l.scopes[key] = out
	return out
}
