package advisor

import (
	"fmt"

	"github.com/posture-dev/posture/policy"
)

// toPorts renders the spec's ports; L7 ports get a port rule of their own.
func (r *ruleSpec) toPorts() (prs []policy.PortRule, icmps []policy.ICMPRule) {
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
		prs = portRules(plain)
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

// ingressRules renders the spec as ingress rules (two when it has both L4
// ports and ICMP types, which Cilium keeps in separate rules).
func (r *ruleSpec) ingressRules() []policy.IngressRule {
	var c policy.IngressCommonRule
	switch r.kind {
	case peerPod:
		c.FromEndpoints = r.sels
	case peerEntity:
		c.FromEntities = r.entities
	case peerCIDR:
		c.FromCIDRSet = r.cidrs
	default:
		return nil
	}
	prs, icmps := r.toPorts()
	var out []policy.IngressRule
	if len(prs) > 0 || len(icmps) == 0 {
		out = append(out, policy.IngressRule{IngressCommonRule: c, ToPorts: prs})
	}
	if len(icmps) > 0 {
		out = append(out, policy.IngressRule{IngressCommonRule: c, ICMPs: icmps})
	}
	return out
}

// egressRules renders the spec as egress rules.
func (r *ruleSpec) egressRules() []policy.EgressRule {
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
		return nil
	}
	prs, icmps := r.toPorts()
	var out []policy.EgressRule
	if len(prs) > 0 || len(icmps) == 0 {
		out = append(out, policy.EgressRule{EgressCommonRule: c, ToFQDNs: fq, ToPorts: prs})
	}
	if len(icmps) > 0 {
		out = append(out, policy.EgressRule{EgressCommonRule: c, ToFQDNs: fq, ICMPs: icmps})
	}
	return out
}
