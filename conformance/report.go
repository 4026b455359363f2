package conformance

import (
	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/policy"
)

// casePolicyYAML renders a policy set as multi-document YAML for
// reproducers (TODO: use policy.Marshal once it is on main).
func casePolicyYAML(ps []*policy.Policy) string {
	var out []byte
	for i, p := range ps {
		if i > 0 {
			out = append(out, "---\n"...)
		}
		b, err := yaml.Marshal(p)
		if err != nil {
			return "marshal: " + err.Error()
		}
		out = append(out, b...)
	}
	return string(out)
}
