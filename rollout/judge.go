package rollout

import (
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Judgement is a policy set's answer for one flow.
type Judgement struct {
	Allowed bool
	// EgressAllowed and IngressAllowed are the two sides' answers (the
	// source's egress, the destination's ingress).
	EgressAllowed, IngressAllowed bool
	// Direction is the side that denied ("ingress" or "egress"), empty
	// when allowed.
	Direction string
	Reason    string
}

// Judge decides flows against one compiled policy set.
type Judge interface {
	Judge(f *flow.Flow) Judgement
}

// Compiler builds a Judge for a policy set. With asEnforced, every
// direction a policy selects is judged as if default deny were on there,
// whatever enableDefaultDeny says: that is how coverage of a staged set is
// measured before anything is enforced.
type Compiler func(ps []*policy.Policy, asEnforced bool) (Judge, error)

// DefaultCompiler is the evaluator the gates use unless told otherwise.
func DefaultCompiler(ps []*policy.Policy, asEnforced bool) (Judge, error) {
	return StandinCompiler(ps, asEnforced)
}
