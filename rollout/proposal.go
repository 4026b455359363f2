package rollout

import (
	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/policy"
)

// FromProposal turns the advisor's proposal for one namespace into the
// rollout's plan: the baseline and platform documents as they are, and per
// workload the narrow document and its L7 variant. The enforce documents
// are not needed: the rollout sets enableDefaultDeny per workload and
// direction itself, from its state.
func FromProposal(np *advisor.NamespaceProposal) (*NamespacePlan, error) {
	p := &NamespacePlan{
		Namespace: np.Namespace,
		Baseline:  np.StagePolicies(advisor.StageBaseline),
		Platform:  np.StagePolicies(advisor.StagePlatform),
	}
	for _, sd := range np.Stages {
		if sd.Stage == advisor.StageL7 && sd.Workload == "" {
			p.PlatformL7 = append(p.PlatformL7, sd.Policies...)
		}
	}
	for _, w := range np.Workloads {
		wp := WorkloadPlan{Name: w.Name}
		if n := np.WorkloadPolicy(w.Name, false, false, false); n != nil {
			wp.Narrow = []*policy.Policy{n}
		}
		if l7 := np.WorkloadPolicy(w.Name, false, false, true); l7 != nil && carriesL7(l7) {
			wp.L7 = []*policy.Policy{l7}
		}
		p.Workloads = append(p.Workloads, wp)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// PlansFromProposal converts every namespace of a proposal.
func PlansFromProposal(pr *advisor.Proposal) (map[string]*NamespacePlan, error) {
	out := map[string]*NamespacePlan{}
	for i := range pr.Namespaces {
		p, err := FromProposal(&pr.Namespaces[i])
		if err != nil {
			return nil, err
		}
		out[p.Namespace] = p
	}
	return out, nil
}
