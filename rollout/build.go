package rollout

import (
	"fmt"
	"slices"
	"sort"

	"github.com/posture-dev/posture/policy"
)

// PlanFromTarget builds a namespace's staged plan from its target set
// (what `posture suggest` prints for it):
//   - policies labelled posture.dev/part=baseline form the baseline; when
//     there are none, an allow-within-namespace baseline is generated;
//   - policies selecting every pod (empty endpointSelector) are platform
//     allowances;
//   - every other policy belongs to a workload: posture.dev/workload, else
//     the selector's app (or app.kubernetes.io/name) label, else its name.
//     A workload whose policies carry L7 rules gets them at stage l7, and
//     the same policies without L7 rules at narrow.
func PlanFromTarget(ns string, target []*policy.Policy) (*NamespacePlan, error) {
	p := &NamespacePlan{Namespace: ns}
	byW := map[string][]*policy.Policy{}
	var order []string
	for _, pol := range target {
		if pol.Clusterwide() || (pol.Metadata.Namespace != "" && pol.Metadata.Namespace != ns) {
			continue
		}
		switch {
		case pol.Metadata.Labels[LabelPart] == PartBaseline:
			p.Baseline = append(p.Baseline, pol)
		case pol.Metadata.Labels[LabelPart] == PartPlatform || selectsAll(pol):
			p.Platform = append(p.Platform, pol)
		default:
			w := workloadOf(pol)
			if _, ok := byW[w]; !ok {
				order = append(order, w)
			}
			byW[w] = append(byW[w], pol)
		}
	}
	if len(p.Baseline) == 0 {
		p.Baseline = []*policy.Policy{BaselinePolicy(ns)}
	}
	sort.Strings(order)
	for _, w := range order {
		wp := WorkloadPlan{Name: w}
		hasL7 := false
		for _, pol := range byW[w] {
			if carriesL7(pol) {
				hasL7 = true
			}
		}
		for _, pol := range byW[w] {
			if hasL7 {
				wp.L7 = append(wp.L7, pol)
				wp.Narrow = append(wp.Narrow, withoutL7(pol))
			} else {
				wp.Narrow = append(wp.Narrow, pol)
			}
		}
		p.Workloads = append(p.Workloads, wp)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// BaselinePolicy allows every pod of the namespace to talk to every other
// in both directions: the checklist's transitional safety net.
func BaselinePolicy(ns string) *policy.Policy {
	return &policy.Policy{
		APIVersion: policy.APIVersion,
		Kind:       policy.KindCNP,
		Metadata: policy.ObjectMeta{
			Name: "posture-baseline", Namespace: ns,
			Labels: map[string]string{LabelPart: PartBaseline},
		},
		Spec: &policy.Rule{
			Description:      "posture: transitional baseline, allows traffic within the namespace; removed when every workload is enforced",
			EndpointSelector: &policy.EndpointSelector{},
			Ingress:          []policy.IngressRule{{IngressCommonRule: policy.IngressCommonRule{FromEndpoints: []policy.EndpointSelector{{}}}}},
			Egress:           []policy.EgressRule{{EgressCommonRule: policy.EgressCommonRule{ToEndpoints: []policy.EndpointSelector{{}}}}},
		},
	}
}

func selectsAll(p *policy.Policy) bool {
	rs := p.Rules()
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if r.EndpointSelector == nil || len(r.EndpointSelector.MatchLabels) > 0 || len(r.EndpointSelector.MatchExpressions) > 0 {
			return false
		}
	}
	return true
}

func workloadOf(p *policy.Policy) string {
	if w := p.Metadata.Labels[LabelWorkload]; w != "" {
		return w
	}
	for _, r := range p.Rules() {
		if r.EndpointSelector == nil {
			continue
		}
		for _, k := range []string{"app", "k8s:app", "app.kubernetes.io/name", "k8s:app.kubernetes.io/name"} {
			if v := r.EndpointSelector.MatchLabels[k]; v != "" {
				return v
			}
		}
	}
	return p.Metadata.Name
}

func carriesL7(p *policy.Policy) bool {
	for _, r := range p.Rules() {
		for _, in := range r.Ingress {
			for _, pr := range in.ToPorts {
				if pr.Rules != nil && (len(pr.Rules.HTTP) > 0 || len(pr.Rules.Kafka) > 0 || len(pr.Rules.L7) > 0) {
					return true
				}
			}
		}
		for _, eg := range r.Egress {
			for _, pr := range eg.ToPorts {
				if pr.Rules != nil && (len(pr.Rules.HTTP) > 0 || len(pr.Rules.Kafka) > 0 || len(pr.Rules.L7) > 0) {
					return true
				}
			}
		}
	}
	return false
}

// withoutL7 drops HTTP/Kafka/generic L7 rules, keeping DNS rules: the DNS
// proxy must see lookups for FQDN rules to work at every stage.
func withoutL7(p *policy.Policy) *policy.Policy {
	c := clonePolicy(p)
	strip := func(prs []policy.PortRule) {
		for i := range prs {
			if r := prs[i].Rules; r != nil {
				if len(r.DNS) > 0 {
					prs[i].Rules = &policy.L7Rules{DNS: slices.Clone(r.DNS)}
				} else {
					prs[i].Rules = nil
				}
			}
		}
	}
	for _, r := range c.Rules() {
		for i := range r.Ingress {
			strip(r.Ingress[i].ToPorts)
		}
		for i := range r.Egress {
			strip(r.Egress[i].ToPorts)
		}
	}
	return c
}

// PlansFromTarget groups a target set (possibly several namespaces) into
// one plan per namespace.
func PlansFromTarget(target []*policy.Policy) (map[string]*NamespacePlan, error) {
	byNS := map[string][]*policy.Policy{}
	for _, p := range target {
		if p.Clusterwide() {
			continue
		}
		if p.Metadata.Namespace == "" {
			return nil, fmt.Errorf("policy %s has no namespace: the rollout needs namespaced policies (set metadata.namespace)", p.Metadata.Name)
		}
		byNS[p.Metadata.Namespace] = append(byNS[p.Metadata.Namespace], p)
	}
	out := map[string]*NamespacePlan{}
	for ns, ps := range byNS {
		pl, err := PlanFromTarget(ns, ps)
		if err != nil {
			return nil, err
		}
		out[ns] = pl
	}
	return out, nil
}
