package advisor

import (
	"fmt"
	"slices"

	"github.com/posture-dev/posture/policy"
)

// toPorts renders the spec's ports; L7 ports get a port rule of their own.
func (r *ruleSpec) toPorts(pc portRuleCache) (prs []policy.PortRule, icmps []policy.ICMPRule) {
	if anyPort(r.ports) {
		return nil, nil
	}
	l4, icmp := splitICMP(r.ports)
	var plain []portKey
	for _, pk := range l4 {
		if r.http[pk] != nil {
			continue
		}
		plain = append(plain, pk)
	}
	if len(r.dns) > 0 {
		for _, pr := range portRules(plain) {
			pr.Rules = &policy.L7Rules{DNS: r.dns}
			prs = append(prs, pr)
		}
	} else {
		prs = pc.portRules(plain)
	}
	for _, pk := range l4 {
		if h := r.http[pk]; h != nil {
			prs = append(prs, policy.PortRule{
				Ports: []policy.PortProtocol{{Port: fmt.Sprint(pk.port), Protocol: string(pk.proto)}},
				Rules: &policy.L7Rules{HTTP: h},
			})
		}
	}
	return prs, icmpRules(icmp)
}

// appendIngressRules appends the spec as ingress rules (two when it has both L4
// ports and ICMP types, which Cilium keeps in separate rules).
func (r *ruleSpec) appendIngressRules(out []policy.IngressRule, pc portRuleCache) []policy.IngressRule {
	var c policy.IngressCommonRule
	switch r.kind {
	case peerPod:
		c.FromEndpoints = r.sels
	case peerEntity:
		c.FromEntities = r.entities
	case peerCIDR:
		c.FromCIDRSet = r.cidrs
	default:
		return out
	}
	prs, icmps := r.toPorts(pc)
	if len(prs) > 0 || len(icmps) == 0 {
		out = append(out, policy.IngressRule{IngressCommonRule: c, ToPorts: prs})
	}
	if len(icmps) > 0 {
		out = append(out, policy.IngressRule{IngressCommonRule: c, ICMPs: icmps})
	}
	return out
}

// appendEgressRules appends the spec as egress rules.
func (r *ruleSpec) appendEgressRules(out []policy.EgressRule, pc portRuleCache) []policy.EgressRule {
	var c policy.EgressCommonRule
	var fq []policy.FQDNSelector
	switch r.kind {
	case peerPod:
		c.ToEndpoints = r.sels
	case peerEntity:
		c.ToEntities = r.entities
	case peerCIDR:
		c.ToCIDRSet = r.cidrs
	case peerFQDN:
		fq = r.fqdns
	default:
		return out
	}
	prs, icmps := r.toPorts(pc)
	if len(prs) > 0 || len(icmps) == 0 {
		out = append(out, policy.EgressRule{EgressCommonRule: c, ToFQDNs: fq, ToPorts: prs})
	}
	if len(icmps) > 0 {
		out = append(out, policy.EgressRule{EgressCommonRule: c, ToFQDNs: fq, ICMPs: icmps})
	}
	return out
}

// portRuleCache shares the rendered toPorts of plain L4 port sets within
// one namespace: workloads serve few ports, so most rules repeat a handful
// of port sets, and documents are read-only. A nil cache renders afresh.
type portRuleCache map[string][]policy.PortRule

func (pc portRuleCache) portRules(ports []portKey) []policy.PortRule {
	if pc == nil {
		return portRules(ports)
	}
	var buf [64]byte
	k := appendPortSig(buf[:0], ports)
	if prs, ok := pc[string(k)]; ok {
		return prs
	}
	// Clipped so that a caller appending (L7 port rules) copies it.
	prs := slices.Clip(portRules(ports))
	pc[string(k)] = prs
	return prs
}
