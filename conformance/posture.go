package conformance

import (
	"fmt"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// PostureEngine is posture's evaluator compiled with the options that
// match the Cilium agent configured by configureCilium.
type PostureEngine struct{ e *policy.Engine }

// NewPostureEngine compiles ps as written (not as enforced).
func NewPostureEngine(ps []*policy.Policy) (*PostureEngine, error) {
	return NewPostureEngineWith(ps, policy.CompileOptions{ClusterName: ClusterName})
}

// NewPostureEngineWith compiles with other options (the mutation checks
// use it to prove the comparison can fail).
func NewPostureEngineWith(ps []*policy.Policy, opts policy.CompileOptions) (*PostureEngine, error) {
	e, err := policy.Compile(ps, opts)
	if err != nil {
		return nil, fmt.Errorf("posture compile: %w", err)
	}
	return &PostureEngine{e: e}, nil
}

// Lookup evaluates the flow; a direction passes when posture says it is
// not selected or allowed.
func (p *PostureEngine) Lookup(f *flow.Flow) (Verdict, policy.Result) {
	r := p.e.Evaluate(f)
	return Verdict{Egress: r.Egress.Decision.Allows(), Ingress: r.Ingress.Decision.Allows()}, r
}

// Enforcing reports whether Cilium enforces policy at this end of a flow
// in the modelled agent: pods and the local health, ingress and init
// endpoints; and the host, whose verdict (always allowed with the host
// firewall off) is still compared. World, CIDR, remote-node,
// kube-apiserver and unmanaged identities are not local endpoints, so
// LookupFlow's answer for them as subjects means nothing.
func Enforcing(ep *flow.Endpoint) bool {
	switch ep.Identity {
	case flow.IdentityHost, flow.IdentityHealth, flow.IdentityIngress, flow.IdentityInit:
		return true
	case flow.IdentityWorld, flow.IdentityRemoteNode, flow.IdentityKubeAPIServer, flow.IdentityUnmanaged,
		flow.IdentityWorldIPv4, flow.IdentityWorldIPv6:
		return false
	}
	return ep.Identity < flow.IdentityMinLocal
}
