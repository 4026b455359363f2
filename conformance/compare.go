package conformance

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Disagreement is one flow on which the two engines differ.
type Disagreement struct {
	Policies  []*policy.Policy
	Flow      flow.Flow
	Direction string // "egress" or "ingress"
	Cilium    bool   // allowed by Cilium
	Posture   bool   // allowed by posture
	Reason    string // posture's explanation
}

// Compare evaluates one flow in both engines over the same policy set and
// returns the disagreements, per enforcing direction.
func Compare(u *Universe, ps []*policy.Policy, f *flow.Flow) ([]Disagreement, error) {
	ce, err := NewCiliumEngine(u, ps)
	if err != nil {
		return nil, err
	}
	pe, err := NewPostureEngine(ps)
	if err != nil {
		return nil, err
	}
	return compareWith(ce, pe, ps, f)
}

func compareWith(ce *CiliumEngine, pe *PostureEngine, ps []*policy.Policy, f *flow.Flow) ([]Disagreement, error) {
	cv, err := ce.Lookup(f)
	if err != nil {
		return nil, err
	}
	pv, res := pe.Lookup(f)
	var out []Disagreement
	if Enforcing(&f.Source) && cv.Egress != pv.Egress {
		out = append(out, Disagreement{Policies: ps, Flow: *f, Direction: "egress", Cilium: cv.Egress, Posture: pv.Egress,
			Reason: res.Egress.Decision.String() + ": " + res.Egress.Reason})
	}
	if Enforcing(&f.Destination) && cv.Ingress != pv.Ingress {
		out = append(out, Disagreement{Policies: ps, Flow: *f, Direction: "ingress", Cilium: cv.Ingress, Posture: pv.Ingress,
			Reason: res.Ingress.Decision.String() + ": " + res.Ingress.Reason})
	}
	return out, nil
}

func verdictWord(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "denied"
}

// Reproducer renders a disagreement as a self-contained YAML file: the
// verdicts and flow as comments, then the policies.
func (d Disagreement) Reproducer() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# posture/Cilium v1.20.2 disagreement (%s)\n", d.Direction)
	fmt.Fprintf(&b, "# cilium:  %s\n# posture: %s (%s)\n", verdictWord(d.Cilium), verdictWord(d.Posture), d.Reason)
	fmt.Fprintf(&b, "# flow: %s -> %s %s/%d\n", d.Flow.Source.String(), d.Flow.Destination.String(), d.Flow.Protocol, d.Flow.Port())
	fmt.Fprintf(&b, "#   source labels:      %s\n", strings.Join(d.Flow.Source.Labels.Strings(), " "))
	fmt.Fprintf(&b, "#   destination labels: %s\n", strings.Join(d.Flow.Destination.Labels.Strings(), " "))
	fj, _ := json.Marshal(d.Flow)
	fmt.Fprintf(&b, "# kind: %s\n# flow-json: %s\n", d.Kind(), fj)
	b.WriteString(casePolicyYAML(d.Policies))
	return b.String()
}

// enforcedDirections counts the directions of f that are compared.
func enforcedDirections(f *flow.Flow) int {
	n := 0
	if Enforcing(&f.Source) {
		n++
	}
	if Enforcing(&f.Destination) {
		n++
	}
	return n
}

// Kind summarizes a disagreement for counting: direction, the identity
// classes of both ends and the two verdicts.
func (d Disagreement) Kind() string {
	return fmt.Sprintf("%s %s->%s cilium=%s posture=%s", d.Direction, class(&d.Flow.Source), class(&d.Flow.Destination), verdictWord(d.Cilium), verdictWord(d.Posture))
}

func class(ep *flow.Endpoint) string {
	switch {
	case ep.Identity.IsReserved():
		return "reserved:" + ep.Identity.ReservedName()
	case ep.Identity >= flow.IdentityMinLocal:
		return "cidr"
	}
	return "pod"
}
