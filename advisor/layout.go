package advisor

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/posture-dev/posture/policy"
)

// StageTarget names the target set where a stage name is expected.
const StageTarget = "target"

// StageAll asks for every stage and the target set.
const StageAll = "all"

// ValidStage reports whether s names something Policies or Files accept.
func ValidStage(s string) bool {
	return s == "" || s == StageTarget || s == StageAll || slices.Contains(Stages, s)
}

// Policies returns the documents of one stage (or the target set for ""
// or "target") over every namespace, in namespace order.
func (p *Proposal) Policies(stage string) []*policy.Policy {
	var out []*policy.Policy
	for i := range p.Namespaces {
		np := &p.Namespaces[i]
		if stage == "" || stage == StageTarget {
			out = append(out, np.Target...)
		} else {
			out = append(out, np.StagePolicies(stage)...)
		}
	}
	return out
}

// Files lays the proposal out as a GitOps directory: for one stage (or
// the target set), <namespace>/<policy>.yaml with a kustomization.yaml per
// namespace and one at the top; for StageAll, the same under one folder
// per stage and "target". Paths are slash-separated and relative.
func (p *Proposal) Files(stage string) (map[string][]byte, error) {
	if !ValidStage(stage) {
		return nil, fmt.Errorf("unknown stage %q (want one of %s, all, target)", stage, strings.Join(Stages, ", "))
	}
	out := map[string][]byte{}
	if stage == StageAll {
		for _, s := range append(slices.Clone(Stages), StageTarget) {
			if err := p.addStageFiles(out, s, s); err != nil {
				return nil, err
			}
		}
		out["README.md"] = []byte(stagesReadme())
		return out, nil
	}
	return out, p.addStageFiles(out, stage, "")
}

func (p *Proposal) addStageFiles(out map[string][]byte, stage, dir string) error {
	var nsDirs []string
	for i := range p.Namespaces {
		np := &p.Namespaces[i]
		var ps []*policy.Policy
		if stage == "" || stage == StageTarget {
			ps = np.Target
		} else {
			ps = np.StagePolicies(stage)
		}
		if len(ps) == 0 {
			continue
		}
		var res []string
		for _, pol := range ps {
			b, err := policy.Marshal([]*policy.Policy{pol})
			if err != nil {
				return fmt.Errorf("marshalling %s/%s: %w", np.Namespace, pol.Metadata.Name, err)
			}
			name := pol.Metadata.Name + ".yaml"
			out[path.Join(dir, np.Namespace, name)] = b
			res = append(res, name)
		}
		slices.Sort(res)
		out[path.Join(dir, np.Namespace, "kustomization.yaml")] = kustomization(res)
		nsDirs = append(nsDirs, np.Namespace)
	}
	if len(nsDirs) > 0 {
		out[path.Join(dir, "kustomization.yaml")] = kustomization(nsDirs)
	}
	return nil
}

func kustomization(resources []string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, r := range resources {
		fmt.Fprintf(&b, "- %s\n", r)
	}
	return []byte(b.String())
}

func stagesReadme() string {
	return `# posture proposal, by stage

Apply in order; each folder holds the documents of one stage as they are
applied at that stage. Promote only when the rollout gates pass.

- baseline/  allow everything within each namespace, default deny off
- platform/  DNS to the observed DNS servers, kube-apiserver, host probes
- narrow/    one policy per workload with its observed peers, default deny off
- enforce/   the same policies with default deny on (flip per workload and
             direction with "posture rollout promote")
- l7/        HTTP method/path and DNS name rules where they were observed
- target/    what is in force at the end: platform and narrow allows with
             default deny on; the baseline is removed
`
}
