package policy

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Lint rule ids (besides the loader's and Validate's codes).
const (
	RuleNamespaceLabel      = "namespace-label-as-pod-label"
	RuleOtherNamespace      = "endpoint-selector-other-namespace"
	RuleDeprecatedRequires  = "deprecated-requires"
	RuleFQDNWithoutDNS      = "fqdn-without-dns-proxy"
	RuleDNSUDPOnly          = "dns-udp-only"
	RuleDNSPort             = "dns-non-standard-port"
	RuleUnanchoredRegex     = "unanchored-regex"
	RuleBroadEntity         = "broad-entity"
	RuleDuplicateRule       = "duplicate-rule"
	RuleDuplicatePolicy     = "duplicate-policy"
	RuleDenyOnlyDefaultDeny = "deny-only-default-deny"
	RuleEgressWithoutDNS    = "egress-default-deny-without-dns"
	RuleToServices          = "to-services-selector"
	RuleHostAllNodes        = "host-policy-all-nodes"
	RuleHostFirewall        = "host-firewall-required"
	RuleDirection           = "direction-mismatch"
	RuleNoNamespace         = "no-namespace"
	RuleCCNPNamespace       = "clusterwide-namespace"
	RuleNodeSelectorLabels  = "node-selector-labels"
	RuleEmptyPeerRule       = "allows-nothing"
)

// Label keys with meaning to Cilium, without source prefix.
const (
	keyPodNamespace  = "io.kubernetes.pod.namespace"
	keyNSLabelPrefix = "io.cilium.k8s.namespace.labels."
	keyNSObjectName  = "kubernetes.io/metadata.name"
)

type linter struct {
	set      []*Policy
	findings []Finding
	rules    map[*Policy]string // rulesJSON cache for duplicate detection
	patterns map[string]*regexp.Regexp
	scopes   map[string][]*Policy
}

func (l *linter) add(p *Policy, path string, sev Severity, rule, hint, format string, args ...any) {
	line, col := p.Origin.Position(path)
	file := p.Origin.File
	if file == "" {
		file = "policy " + policyLabel(p)
	}
	l.findings = append(l.findings, Finding{File: file, Line: line, Column: col, Severity: sev, Rule: rule,
		Policy: policyLabel(p), Path: p.Origin.DisplayPath(path), Message: fmt.Sprintf(format, args...), Hint: hint, doc: p.Origin.Doc})
}

// stripSource drops a label source prefix ("k8s:", "any:").
func stripSource(key string) string {
	if src, rest, ok := strings.Cut(key, ":"); ok && (src == "k8s" || src == "any") {
		return rest
	}
	return key
}

// synthetic reports whether the loader invented the policy's subject (a
// fragment that had no selector); subject-based rules skip those.
func synthetic(p *Policy) bool {
	return p.Origin.Fragment == FragmentSections || p.Origin.Fragment == FragmentPeerRule
}

func (l *linter) policy(p *Policy) {
	l.metadata(p)
	for i, r := range p.Rules() {
		rp := rulePath(p, i)
		l.selectors(p, r, rp)
		l.ports(p, r, rp)
		l.fqdns(p, r, rp)
		l.entities(p, r, rp)
		l.emptyRules(p, r, rp)
		l.duplicateEntries(p, r, rp)
		l.defaultDeny(p, r, rp)
		l.egressDNS(p, r, rp)
		l.host(p, r, rp)
		l.direction(p, r, rp)
	}
	l.duplicatePolicy(p)
}

func (l *linter) metadata(p *Policy) {
	if p.Origin.Fragment != "" {
		return
	}
	if p.Kind == KindCNP && p.Metadata.Namespace == "" {
		l.add(p, "metadata", SeverityInfo, RuleNoNamespace, "set metadata.namespace to make the target explicit",
			"no metadata.namespace: the policy lands in whatever namespace kubectl targets when it is applied (usually default)")
	}
	if p.Kind == KindCCNP && p.Metadata.Namespace != "" {
		l.add(p, "metadata.namespace", SeverityWarning, RuleCCNPNamespace, "remove metadata.namespace, or make it a CiliumNetworkPolicy",
			"a CiliumClusterwideNetworkPolicy is not namespaced: namespace %q is ignored and the policy applies cluster-wide", p.Metadata.Namespace)
	}
}

// peerSelector is one endpoint selector of a rule with its field path.
type peerSelector struct {
	sel      *EndpointSelector
	path     string
	field    string // fromEndpoints, toRequires, ...
	requires bool
}

func peerSelectors(r *Rule, rp string) []peerSelector {
	var out []peerSelector
	add := func(ss []EndpointSelector, path, field string) {
		for i := range ss {
			out = append(out, peerSelector{&ss[i], index(path+"."+field, i), field, strings.HasSuffix(field, "Requires")})
		}
	}
	for i := range r.Ingress {
		p := index(rp+".ingress", i)
		add(r.Ingress[i].FromEndpoints, p, "fromEndpoints")
		add(r.Ingress[i].FromRequires, p, "fromRequires")
	}
	for i := range r.IngressDeny {
		p := index(rp+".ingressDeny", i)
		add(r.IngressDeny[i].FromEndpoints, p, "fromEndpoints")
		add(r.IngressDeny[i].FromRequires, p, "fromRequires")
	}
	for i := range r.Egress {
		p := index(rp+".egress", i)
		add(r.Egress[i].ToEndpoints, p, "toEndpoints")
		add(r.Egress[i].ToRequires, p, "toRequires")
	}
	for i := range r.EgressDeny {
		p := index(rp+".egressDeny", i)
		add(r.EgressDeny[i].ToEndpoints, p, "toEndpoints")
		add(r.EgressDeny[i].ToRequires, p, "toRequires")
	}
	return out
}

// selectorKeys lists a selector's keys with the path of each.
func selectorKeys(s *EndpointSelector, path string) (keys, paths []string) {
	for _, k := range sortedKeys(s.MatchLabels) {
		keys = append(keys, k)
		paths = append(paths, join(path+".matchLabels", k))
	}
	for i, e := range s.MatchExpressions {
		keys = append(keys, e.Key)
		paths = append(paths, index(path+".matchExpressions", i)+".key")
	}
	return keys, paths
}

func (l *linter) selectors(p *Policy, r *Rule, rp string) {
	all := peerSelectors(r, rp)
	if r.EndpointSelector != nil && !synthetic(p) {
		all = append(all, peerSelector{sel: r.EndpointSelector, path: rp + ".endpointSelector", field: "endpointSelector"})
		if ns := p.Metadata.Namespace; p.Kind == KindCNP && ns != "" {
			for _, k := range sortedKeys(r.EndpointSelector.MatchLabels) {
				if v := r.EndpointSelector.MatchLabels[k]; stripSource(k) == keyPodNamespace && v != ns {
					l.add(p, join(rp+".endpointSelector.matchLabels", k), SeverityError, RuleOtherNamespace,
						"a policy for pods in "+v+" must live in namespace "+v,
						"this CiliumNetworkPolicy lives in namespace %s but selects pods of namespace %s: it selects nothing", ns, v)
				}
			}
		}
	}
	for _, ps := range all {
		keys, paths := selectorKeys(ps.sel, ps.path)
		for i, k := range keys {
			if stripSource(k) != keyNSObjectName {
				continue
			}
			value := ps.sel.MatchLabels[k]
			if value == "" {
				value = "<namespace>"
			}
			where := "no pod carries it, so this selector matches nothing"
			if p.Kind == KindCNP && ps.field != "endpointSelector" {
				ns := "the policy's own namespace"
				if p.Metadata.Namespace != "" {
					ns = p.Metadata.Namespace + " (the policy's own namespace)"
				}
				where = "the peer is also limited to " + ns + " and no pod carries this label, so this selector matches nothing"
			}
			if ps.requires {
				where += "; as a requirement it then blocks every peer of the selected endpoints"
			}
			l.add(p, paths[i], SeverityError, RuleNamespaceLabel,
				fmt.Sprintf("select the namespace with %s: %s, or with %s%s: %s, inside the same matchLabels", keyPodNamespace, value, keyNSLabelPrefix, keyNSObjectName, value),
				"%q is a label of Namespace objects, but in %s it is read as a pod label: %s", k, ps.field, where)
		}
		if ps.requires {
			l.add(p, ps.path, SeverityWarning, RuleDeprecatedRequires,
				"put the extra labels into the "+strings.Replace(ps.field, "Requires", "Endpoints", 1)+" selectors themselves",
				"%s is deprecated: Cilium 1.17 and later reject it (CRD maxItems 0), and where it works it constrains every other rule selecting these endpoints", ps.field)
		}
	}
	for i := range r.Ingress {
		if len(r.Ingress[i].FromNodes) > 0 {
			l.add(p, index(rp+".ingress", i)+".fromNodes", SeverityInfo, RuleNodeSelectorLabels, "",
				"fromNodes only works when Cilium runs with --enable-node-selector-labels")
		}
	}
	for i := range r.Egress {
		if len(r.Egress[i].ToNodes) > 0 {
			l.add(p, index(rp+".egress", i)+".toNodes", SeverityInfo, RuleNodeSelectorLabels, "",
				"toNodes only works when Cilium runs with --enable-node-selector-labels")
		}
	}
}

// portRules calls fn for each allow port rule of a rule.
func portRules(r *Rule, rp string, fn func(pr *PortRule, path string, egress bool)) {
	for i := range r.Ingress {
		for j := range r.Ingress[i].ToPorts {
			fn(&r.Ingress[i].ToPorts[j], index(index(rp+".ingress", i)+".toPorts", j), false)
		}
	}
	for i := range r.Egress {
		for j := range r.Egress[i].ToPorts {
			fn(&r.Egress[i].ToPorts[j], index(index(rp+".egress", i)+".toPorts", j), true)
		}
	}
}

func (l *linter) ports(p *Policy, r *Rule, rp string) {
	portRules(r, rp, func(pr *PortRule, path string, egress bool) {
		if pr.Rules == nil {
			return
		}
		for k, h := range pr.Rules.HTTP {
			if h.Path == "" || strings.HasPrefix(h.Path, "^") && strings.HasSuffix(h.Path, "$") {
				continue
			}
			core := strings.TrimSuffix(strings.TrimPrefix(h.Path, "^"), "$")
			l.add(p, index(path+".rules.http", k)+".path", SeverityWarning, RuleUnanchoredRegex,
				fmt.Sprintf("write ^%s$ for exactly this path, or ^%s(/.*)?$ to include everything below it", core, strings.TrimSuffix(core, "/")),
				"path %q is not anchored: Cilium matches the regular expression against the whole request path, so it never matches a longer path", h.Path)
		}
		if len(pr.Rules.DNS) == 0 || !egress {
			return
		}
		udp53, tcp53 := false, false
		for k, pp := range pr.Ports {
			n, _ := strconv.Atoi(pp.Port)
			covers := pp.Port == "53" || pp.Port == "" || pp.Port == "0" || pp.Port == "dns" || pp.Port == "domain" ||
				n > 0 && n <= 53 && int(pp.EndPort) >= 53
			if !covers {
				l.add(p, index(path+".ports", k)+".port", SeverityWarning, RuleDNSPort, `DNS servers listen on port 53`,
					"DNS rules on port %s: the DNS proxy only sees queries sent to this port", pp.Port)
				continue
			}
			switch pp.Protocol {
			case "UDP":
				udp53 = true
			case "TCP":
				tcp53 = true
			case "", "ANY":
				udp53, tcp53 = true, true
			}
		}
		if udp53 && !tcp53 {
			l.add(p, path+".ports", SeverityWarning, RuleDNSUDPOnly, `use protocol: ANY for port 53 (or add a TCP entry), as Cilium's FQDN examples do`,
				"DNS is allowed and proxied on UDP only: DNS over TCP/53 (the fallback for truncated answers) is not intercepted and, under egress default deny, dropped")
		}
	})
}

func (l *linter) entities(p *Policy, r *Rule, rp string) {
	broad := []string{EntityWorld, EntityWorldIPv4, EntityWorldIPv6, EntityAll, EntityRemoteNode}
	check := func(ents []string, path, field string, nPorts, nICMP int, ingress bool) {
		for j, e := range ents {
			if !slices.Contains(broad, e) || nPorts > 0 || nICMP > 0 {
				continue
			}
			what := "from " + e + " to the selected endpoints"
			if !ingress {
				what = "from the selected endpoints to " + e
			}
			l.add(p, index(path+"."+field, j), SeverityWarning, RuleBroadEntity, "add toPorts to the rule to allow only the ports that are needed",
				"%s %q without toPorts allows every port and protocol %s", field, e, what)
		}
	}
	for i := range r.Ingress {
		in := &r.Ingress[i]
		check(in.FromEntities, index(rp+".ingress", i), "fromEntities", len(in.ToPorts), len(in.ICMPs), true)
	}
	for i := range r.Egress {
		eg := &r.Egress[i]
		check(eg.ToEntities, index(rp+".egress", i), "toEntities", len(eg.ToPorts), len(eg.ICMPs), false)
		for j := range eg.ToServices {
			l.add(p, index(index(rp+".egress", i)+".toServices", j), SeverityWarning, RuleToServices,
				"for pods behind a Service use toEndpoints with the backend pods' labels and io.kubernetes.pod.namespace",
				"toServices only works for Services without a selector (backed by hand-made Endpoints); for a Service that selects pods it allows nothing")
		}
	}
}

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

// emptyRules notes allow rules with no peer, port or ICMP field: they
// allow nothing, and only switch their direction to default deny.
func (l *linter) emptyRules(p *Policy, r *Rule, rp string) {
	for i, in := range r.Ingress {
		if reflect.ValueOf(in).IsZero() {
			l.add(p, index(rp+".ingress", i), SeverityInfo, RuleEmptyPeerRule, "to allow from the whole namespace write fromEndpoints: [ {} ]",
				"an empty ingress rule allows nothing: it only puts the selected endpoints into ingress default deny (deny all)")
		}
	}
	for i, eg := range r.Egress {
		if reflect.ValueOf(eg).IsZero() {
			l.add(p, index(rp+".egress", i), SeverityInfo, RuleEmptyPeerRule, "to allow to the whole namespace write toEndpoints: [ {} ]",
				"an empty egress rule allows nothing: it only puts the selected endpoints into egress default deny (deny all)")
		}
	}
}
