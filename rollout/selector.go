package rollout

import (
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// selects matches a workload's endpoint selector against an endpoint, to
// attribute flows to workloads; like Cilium, a selector that does not name
// the namespace is scoped to the policy's. (Verdicts come from the policy
// evaluator, not from this.)
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
