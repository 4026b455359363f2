package policy

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
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
	RulePortNumber          = "odd-port-number"
	RuleICMPType            = "icmp-type-range"
	RuleNamespaceIsolated   = "namespace-only-ingress"
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
	order    map[*Policy]int // position in set, to report each clash once
	l7uses   map[*Rule][]l7Use
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
		l.numbers(p, r, rp)
		l.fqdns(p, r, rp)
		l.entities(p, r, rp)
		l.emptyRules(p, r, rp)
		l.namespaceOnly(p, r, rp)
		l.duplicateEntries(p, r, rp)
		l.defaultDeny(p, r, rp)
		l.egressDNS(p, r, rp)
		l.host(p, r, rp)
		l.direction(p, r, rp)
		l.l7Conflicts(p, r, rp)
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
			l.add(p, index(rp+".ingress", i)+".fromNodes", SeverityWarning, RuleNodeSelectorLabels, "select nodes with fromEntities: [ host, remote-node ] instead",
				"fromNodes is rejected unless Cilium runs with --enable-node-selector-labels (off by default)")
		}
	}
	for i := range r.Egress {
		if len(r.Egress[i].ToNodes) > 0 {
			l.add(p, index(rp+".egress", i)+".toNodes", SeverityWarning, RuleNodeSelectorLabels, "select nodes with toEntities: [ host, remote-node ] instead",
				"toNodes is rejected unless Cilium runs with --enable-node-selector-labels (off by default)")
		}
	}
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
		for j, s := range eg.ToServices {
			sp := index(index(rp+".egress", i)+".toServices", j)
			if s.K8sServiceSelector == nil && (s.K8sService == nil || s.K8sService.ServiceName == "") {
				l.add(p, sp, SeverityWarning, RuleToServices, "name the Service with k8sService.serviceName, or select Services with k8sServiceSelector",
					"this toServices entry names no Service, so it matches nothing")
				continue
			}
			l.add(p, sp, SeverityWarning, RuleToServices,
				"for pods behind a Service use toEndpoints with the backend pods' labels and io.kubernetes.pod.namespace",
				"toServices only works for Services without a selector (backed by hand-made Endpoints); for a Service that selects pods it allows nothing")
		}
	}
}

// namespaceOnly notes a namespace-wide CNP whose ingress allows only pods
// of its own namespace: everything from outside, ingress controllers and
// monitoring included, is then dropped.
func (l *linter) namespaceOnly(p *Policy, r *Rule, rp string) {
	es := r.EndpointSelector
	if p.Kind != KindCNP || synthetic(p) || es == nil || len(es.MatchLabels)+len(es.MatchExpressions) > 0 ||
		len(r.Ingress) == 0 || !defaultDenyOn(r, false) {
		return
	}
	for _, in := range r.Ingress {
		if len(in.FromEndpoints) == 0 || len(in.FromRequires) > 0 {
			return
		}
		for _, s := range in.FromEndpoints {
			for k := range s.MatchLabels {
				if k := stripSource(k); k == keyPodNamespace || strings.HasPrefix(k, keyNSLabelPrefix) {
					return
				}
			}
			for _, e := range s.MatchExpressions {
				if k := stripSource(e.Key); k == keyPodNamespace || strings.HasPrefix(k, keyNSLabelPrefix) {
					return
				}
			}
		}
	}
	ns := p.Metadata.Namespace
	if ns == "" {
		ns = "its namespace"
	}
	l.add(p, rp+".ingress", SeverityInfo, RuleNamespaceIsolated,
		"allow the ingress controller, monitoring and other callers explicitly (fromEndpoints with io.kubernetes.pod.namespace)",
		"every pod of %s now accepts ingress only from pods of %s: traffic from other namespaces, ingress controllers and monitoring is dropped", ns, ns)
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
