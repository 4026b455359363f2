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

// DefaultCompiler is the policy package's evaluator, with Cilium's
// semantics (namespace scoping, entities, CIDR except, FQDN, L7, deny
// precedence, per-direction default deny).
func DefaultCompiler(ps []*policy.Policy, asEnforced bool) (Judge, error) {
	e, err := policy.Compile(ps, policy.CompileOptions{AsEnforced: asEnforced})
	if err != nil {
		return nil, err
	}
	return engineJudge{e}, nil
}

type engineJudge struct{ e *policy.Engine }

func (j engineJudge) Judge(f *flow.Flow) Judgement {
	r := j.e.Evaluate(f)
	out := Judgement{
		Allowed:        r.Verdict.Allows(),
		EgressAllowed:  r.Egress.Decision.Allows(),
		IngressAllowed: r.Ingress.Decision.Allows(),
	}
	switch {
	case !out.EgressAllowed:
		out.Direction, out.Reason = "egress", r.Egress.Reason
	case !out.IngressAllowed:
		out.Direction, out.Reason = "ingress", r.Ingress.Reason
	}
	return out
}
