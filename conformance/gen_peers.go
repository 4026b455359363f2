package conformance

import (
	"sort"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

var entities = []string{
	policy.EntityAll, policy.EntityWorld, policy.EntityCluster, policy.EntityHost, policy.EntityRemoteNode,
	policy.EntityKubeAPIServer, policy.EntityHealth, policy.EntityInit, policy.EntityIngress, policy.EntityUnmanaged,
	policy.EntityNone,
}

// cidrs contain, overlap and miss the universe's world IPs.
var cidrs = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "192.168.0.0/16", "203.0.113.0/24", "203.0.113.128/25", "0.0.0.0/0", "8.8.8.8/32", "172.16.0.0/12"}

// cidrs6 are drawn too in dual stack.
var cidrs6 = []string{"2001:db8::/32", "2001:db8:1::/48", "::/0", "2606:4700::1111/128"}

func (g *Generator) cidr() string {
	if g.U.DualStack && g.chance(0.3) {
		return pick(g, cidrs6)
	}
	return pick(g, cidrs)
}

type peerKind int

const (
	peerNone peerKind = iota // L4-only or empty rule
	peerEndpoints
	peerEntities
	peerCIDR
	peerCIDRSet
)

func (g *Generator) peerKind() peerKind {
	switch r := g.intn(20); {
	case r < 2:
		return peerNone
	case r < 11:
		return peerEndpoints
	case r < 15:
		return peerEntities
	case r < 17:
		return peerCIDR
	default:
		return peerCIDRSet
	}
}

func (g *Generator) ingressPeer(ns string) policy.IngressCommonRule {
	var c policy.IngressCommonRule
	switch g.peerKind() {
	case peerEndpoints:
		for range 1 + g.intn(2) {
			c.FromEndpoints = append(c.FromEndpoints, *g.selector(ns, false))
		}
	case peerEntities:
		c.FromEntities = g.entities()
	case peerCIDR:
		c.FromCIDR = g.cidrList()
	case peerCIDRSet:
		c.FromCIDRSet = g.cidrSet()
	}
	return c
}

func (g *Generator) egressPeer(ns string) policy.EgressCommonRule {
	var c policy.EgressCommonRule
	switch g.peerKind() {
	case peerEndpoints:
		for range 1 + g.intn(2) {
			c.ToEndpoints = append(c.ToEndpoints, *g.selector(ns, false))
		}
	case peerEntities:
		c.ToEntities = g.entities()
	case peerCIDR:
		c.ToCIDR = g.cidrList()
	case peerCIDRSet:
		c.ToCIDRSet = g.cidrSet()
	}
	return c
}

func (g *Generator) entities() []string {
	var out []string
	for range 1 + g.intn(2) {
		out = append(out, pick(g, entities))
	}
	return out
}

func (g *Generator) cidrList() []string {
	var out []string
	for range 1 + g.intn(2) {
		out = append(out, g.cidr())
	}
	return out
}

// excepts lists carve-outs for each CIDR that Cilium accepts (contained in
// the CIDR).
var excepts = map[string][]string{
	"10.0.0.0/8":       {"10.1.0.0/16", "10.1.2.3/32", "10.0.0.0/24"},
	"10.1.0.0/16":      {"10.1.2.3/32", "10.1.128.0/17"},
	"192.168.0.0/16":   {"192.168.1.0/24"},
	"203.0.113.0/24":   {"203.0.113.128/25", "203.0.113.7/32"},
	"0.0.0.0/0":        {"10.0.0.0/8", "203.0.113.0/24"},
	"172.16.0.0/12":    {"172.16.0.0/16"},
	"2001:db8::/32":    {"2001:db8:1::/48"},
	"::/0":             {"2001:db8::/32"},
	"203.0.113.128/25": {"203.0.113.200/32"},
}

func (g *Generator) cidrSet() []policy.CIDRRule {
	var out []policy.CIDRRule
	for range 1 + g.intn(2) {
		c := g.cidr()
		cr := policy.CIDRRule{CIDR: c}
		if ex := excepts[c]; len(ex) > 0 && g.chance(0.7) {
			cr.Except = append(cr.Except, pick(g, ex))
		}
		out = append(out, cr)
	}
	return out
}

// selector draws an endpoint selector. subject selectors of a CNP are
// scoped to its namespace by Cilium; peer selectors may cross namespaces
// by naming io.kubernetes.pod.namespace or namespace labels.
func (g *Generator) selector(ns string, subject bool) *policy.EndpointSelector {
	if g.chance(0.15) {
		return &policy.EndpointSelector{} // {}: every endpoint (in the namespace for a CNP)
	}
	pods := g.U.Pods()
	anchor := pick(g, pods)
	es := &policy.EndpointSelector{}
	var plain []flow.Label
	for _, l := range anchor.Endpoint.Labels {
		switch l.Key {
		case flow.LabelNamespace, flow.LabelCluster:
		default:
			plain = append(plain, l)
		}
	}
	sort.Slice(plain, func(i, j int) bool { return plain[i].Key < plain[j].Key })
	prefix := func() string { return pick(g, []string{"", "", "", "k8s:", "any:"}) }
	nsKey := func() string {
		return pick(g, []string{"io.kubernetes.pod.namespace", "k8s:io.kubernetes.pod.namespace"})
	}
	for range 1 + g.intn(2) {
		l := pick(g, plain)
		switch r := g.intn(10); {
		case r < 6:
			if es.MatchLabels == nil {
				es.MatchLabels = map[string]string{}
			}
			es.MatchLabels[prefix()+l.Key] = l.Value
		case r < 7:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + l.Key, Operator: policy.OpIn, Values: []string{l.Value, "other"}})
		case r < 8:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + l.Key, Operator: policy.OpNotIn, Values: []string{l.Value}})
		case r < 9:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + l.Key, Operator: policy.OpExists})
		default:
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: prefix() + pick(g, []string{"role", "version", "tier"}), Operator: policy.OpDoesNotExist})
		}
	}
	crossNS := !subject || ns == ""
	if crossNS && g.chance(0.35) {
		if es.MatchLabels == nil {
			es.MatchLabels = map[string]string{}
		}
		target := anchor.Endpoint.Namespace
		if g.chance(0.2) {
			target = pick(g, g.U.Namespaces).Name
		}
		if g.chance(0.3) {
			es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: nsKey(), Operator: policy.OpIn, Values: []string{target, "nowhere"}})
		} else {
			es.MatchLabels[nsKey()] = target
		}
	} else if subject && ns != "" && g.chance(0.05) {
		// Cilium drops a subject namespace match that is not the policy's own.
		if es.MatchLabels == nil {
			es.MatchLabels = map[string]string{}
		}
		es.MatchLabels[flow.LabelNamespace] = ns
	}
	if len(es.MatchLabels) == 0 {
		es.MatchLabels = nil
	}
	return es
}
