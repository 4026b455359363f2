package conformance

import (
	"github.com/posture-dev/posture/policy"
)

// casePolicyYAML renders a policy set with posture's own writer, so a
// reproducer loads back exactly.
func casePolicyYAML(ps []*policy.Policy) string {
	b, err := policy.Marshal(ps)
	if err != nil {
		return "# marshal: " + err.Error() + "\n"
	}
	return string(b)
}
