package rollout

import (
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// StandinCompiler is a small L3/L4 evaluator (selectors with matchLabels,
// entities, CIDRs, FQDN names, ports, enableDefaultDeny) used until the
// policy package's evaluator is wired in, and by unit tests.
func StandinCompiler(ps []*policy.Policy, asEnforced bool) (Judge, error) {
	return &standin{ps: ps, asEnforced: asEnforced}, nil
}

type standin struct {
	ps         []*policy.Policy
	asEnforced bool
}

func (s *standin) Judge(f *flow.Flow) Judgement {
	j := Judgement{EgressAllowed: s.side(f, true), IngressAllowed: s.side(f, false)}
	switch {
	case !j.EgressAllowed:
		j.Direction, j.Reason = "egress", "no egress rule allows it"
	case !j.IngressAllowed:
		j.Direction, j.Reason = "ingress", "no ingress rule allows it"
	default:
		j.Allowed = true
	}
	return j
}

// side reports whether the egress side (of the source) or the ingress
// side (of the destination) lets f through.
func (s *standin) side(f *flow.Flow, egress bool) bool {
	subject, peer := &f.Source, &f.Destination
	if !egress {
		subject, peer = &f.Destination, &f.Source
	}
	if !subject.IsPod() {
		return true
	}
	enforced, allowed := false, false
	for _, p := range s.ps {
		for _, r := range p.Rules() {
			if r.EndpointSelector == nil || !selects(r.EndpointSelector, p.Metadata.Namespace, subject) {
				continue
			}
			has := len(r.Ingress) > 0 || len(r.IngressDeny) > 0
			var dd *bool
			if r.EnableDefaultDeny != nil {
				dd = r.EnableDefaultDeny.Ingress
			}
			if egress {
				has = len(r.Egress) > 0 || len(r.EgressDeny) > 0
				dd = nil
				if r.EnableDefaultDeny != nil {
					dd = r.EnableDefaultDeny.Egress
				}
			}
			switch {
			case s.asEnforced && (has || dd != nil):
				enforced = true
			case dd != nil && *dd:
				enforced = true
			case dd == nil && has:
				enforced = true
			}
			if egress {
				for _, er := range r.Egress {
					if egressMatches(&er, p.Metadata.Namespace, peer, f) {
						allowed = true
					}
				}
			} else {
				for _, ir := range r.Ingress {
					if ingressMatches(&ir, p.Metadata.Namespace, peer, f) {
						allowed = true
					}
				}
			}
		}
	}
	return !enforced || allowed
}

func egressMatches(r *policy.EgressRule, ns string, peer *flow.Endpoint, f *flow.Flow) bool {
	if !portsMatch(r.ToPorts, f) {
		return false
	}
	empty := len(r.ToEndpoints) == 0 && len(r.ToEntities) == 0 && len(r.ToCIDR) == 0 && len(r.ToCIDRSet) == 0 && len(r.ToFQDNs) == 0
	if empty {
		return len(r.ToPorts) > 0
	}
	for i := range r.ToEndpoints {
		if peer.IsPod() && selects(&r.ToEndpoints[i], ns, peer) {
			return true
		}
	}
	if entitiesMatch(r.ToEntities, peer) || cidrsMatch(r.ToCIDR, r.ToCIDRSet, peer) {
		return true
	}
	for _, q := range r.ToFQDNs {
		for _, n := range peer.Names {
			n = strings.TrimSuffix(n, ".")
			if (q.MatchName != "" && strings.EqualFold(q.MatchName, n)) || (q.MatchPattern != "" && globMatch(q.MatchPattern, n)) {
				return true
			}
		}
	}
	return false
}

func ingressMatches(r *policy.IngressRule, ns string, peer *flow.Endpoint, f *flow.Flow) bool {
	if !portsMatch(r.ToPorts, f) {
		return false
	}
	if len(r.FromEndpoints) == 0 && len(r.FromEntities) == 0 && len(r.FromCIDR) == 0 && len(r.FromCIDRSet) == 0 {
		return len(r.ToPorts) > 0
	}
	for i := range r.FromEndpoints {
		if peer.IsPod() && selects(&r.FromEndpoints[i], ns, peer) {
			return true
		}
	}
	return entitiesMatch(r.FromEntities, peer) || cidrsMatch(r.FromCIDR, r.FromCIDRSet, peer)
}

func globMatch(pattern, name string) bool {
	ok, _ := path.Match(strings.ToLower(strings.TrimSuffix(pattern, ".")), strings.ToLower(name))
	return ok || pattern == "*"
}

func portsMatch(prs []policy.PortRule, f *flow.Flow) bool {
	if len(prs) == 0 {
		return true
	}
	port := int(f.Port())
	for _, pr := range prs {
		if len(pr.Ports) == 0 {
			return true
		}
		for _, pp := range pr.Ports {
			proto := strings.ToUpper(pp.Protocol)
			if proto != "" && proto != "ANY" && proto != strings.ToUpper(string(f.Protocol)) {
				continue
			}
			n, err := strconv.Atoi(pp.Port)
			if pp.Port == "" || pp.Port == "0" {
				return true
			}
			if err != nil {
				continue
			}
			end := n
			if pp.EndPort > int32(n) {
				end = int(pp.EndPort)
			}
			if port >= n && port <= end {
				return true
			}
		}
	}
	return false
}

func entitiesMatch(es []string, peer *flow.Endpoint) bool {
	for _, e := range es {
		switch e {
		case policy.EntityAll:
			return true
		case policy.EntityCluster:
			if peer.IsPod() || (peer.Identity.IsReserved() && !peer.Identity.IsWorld()) {
				return true
			}
		case policy.EntityWorld, policy.EntityWorldIPv4, policy.EntityWorldIPv6:
			if peer.Identity.IsWorld() || peer.Identity >= flow.IdentityMinLocal {
				return true
			}
		default:
			if id, ok := flow.ReservedIdentity(e); ok && peer.Identity == id {
				return true
			}
		}
	}
	return false
}

func cidrsMatch(cidrs []string, sets []policy.CIDRRule, peer *flow.Endpoint) bool {
	ip, err := netip.ParseAddr(peer.IP)
	if err != nil || peer.IsPod() {
		return false
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	for _, s := range sets {
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil || !p.Contains(ip) {
			continue
		}
		excluded := false
		for _, x := range s.Except {
			if xp, err := netip.ParsePrefix(x); err == nil && xp.Contains(ip) {
				excluded = true
			}
		}
		if !excluded {
			return true
		}
	}
	return false
}

// selects matches a CNP selector against an endpoint; like Cilium, a
// selector that does not name the namespace is scoped to the policy's.
func selects(sel *policy.EndpointSelector, ns string, ep *flow.Endpoint) bool {
	nsGiven := false
	for k, v := range sel.MatchLabels {
		key := stripSource(k)
		if key == flow.LabelNamespace {
			nsGiven = true
		}
		got, ok := ep.Labels.Get(key)
		if key == flow.LabelNamespace && !ok {
			got, ok = ep.Namespace, ep.Namespace != ""
		}
		if !ok || got != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		key := stripSource(e.Key)
		if key == flow.LabelNamespace {
			nsGiven = true
		}
		got, ok := ep.Labels.Get(key)
		in := false
		for _, v := range e.Values {
			in = in || (ok && v == got)
		}
		switch e.Operator {
		case policy.OpIn:
			if !in {
				return false
			}
		case policy.OpNotIn:
			if in {
				return false
			}
		case policy.OpExists:
			if !ok {
				return false
			}
		case policy.OpDoesNotExist:
			if ok {
				return false
			}
		}
	}
	return nsGiven || ns == "" || ep.Namespace == ns
}

func stripSource(k string) string {
	for _, p := range []string{"k8s:", "any:"} {
		if strings.HasPrefix(k, p) {
			return k[len(p):]
		}
	}
	return k
}
