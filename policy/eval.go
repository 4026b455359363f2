package policy

// The evaluator follows Cilium v1.20's policy engine (pkg/policy,
// pkg/policy/utils.RulesToPolicyEntries, pkg/k8s/apis/cilium.io/utils):
//
//   - a rule set becomes one entry per ingress/ingressDeny/egress/egressDeny
//     rule; a direction is enforced for an endpoint once an entry selects
//     it, and in default deny when one of those entries has default deny
//     (enableDefaultDeny unset or true for that direction);
//   - a CNP's subject gets k8s:io.kubernetes.pod.namespace=<ns>; its
//     from/toEndpoints get it too unless they name the namespace label
//     (any source), a namespace-object label (io.cilium.k8s.namespace.labels.*)
//     or a reserved label; a CCNP's get "namespace label exists";
//   - nil peers with ports select every peer, an explicitly empty peer list
//     selects nothing, and a rule with neither peers nor ports allows
//     nothing (so ingress: [{}] only switches default deny on);
//   - deny entries win; ingress from the local host is allowed
//     (allow-localhost); endpoints still initialising are always in default
//     deny; CIDR selectors select only world identities;
//   - fromRequires/toRequires, removed from the v1.20 CRD, keep their v1.15
//     meaning: every requirement of every rule selecting the endpoint is
//     added to each of its from/toEndpoints selectors.
//
// Named ports, toServices, toGroups and CIDR groups need cluster state that
// flow records do not carry; they match nothing, and reasons say so.

import (
	"fmt"
	"strconv"

	"github.com/posture-dev/posture/flow"
)

// Decision is what Cilium does with a flow in one direction, or overall.
type Decision uint8

const (
	// NotSelected: no policy selects the enforcing endpoint in this
	// direction (or it is not a Cilium endpoint), so nothing is enforced.
	NotSelected Decision = iota
	// Allowed: a rule allows the flow, or the direction is not in default
	// deny.
	Allowed
	// Denied: an ingressDeny/egressDeny rule matches; deny wins over allow.
	Denied
	// DefaultDenied: the direction is in default deny and no rule allows
	// the flow.
	DefaultDenied
)

var decisionNames = [...]string{"not-selected", "allowed", "denied", "default-denied"}

// Allows reports whether traffic passes: true for NotSelected and Allowed.
func (d Decision) Allows() bool { return d == NotSelected || d == Allowed }

func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return "decision(" + strconv.Itoa(int(d)) + ")"
}

// MarshalText writes the decision's name.
func (d Decision) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a decision's name.
func (d *Decision) UnmarshalText(b []byte) error {
	for i, n := range decisionNames {
		if n == string(b) {
			*d = Decision(i)
			return nil
		}
	}
	return fmt.Errorf("unknown decision %q", b)
}

// RuleRef points at one rule of a policy: Section is "ingress",
// "ingressDeny", "egress" or "egressDeny", Index the rule's position in
// that list, and Spec the position of the rule set in Policy.Rules()
// (spec first, then specs).
type RuleRef struct {
	Policy    string `json:"policy"`
	Namespace string `json:"namespace,omitempty"`
	Index     int    `json:"index"`
	Section   string `json:"section"`
	Spec      int    `json:"spec,omitempty"`
}

// String renders "namespace/name ingress[0]" ("name ..." for a CCNP;
// "specs[1]." before the section when the policy has several rule sets).
func (r RuleRef) String() string { return string(r.appendText(nil)) }

func (r RuleRef) appendText(b []byte) []byte {
	if r.Namespace != "" {
		b = append(append(b, r.Namespace...), '/')
	}
	b = append(append(b, r.Policy...), ' ')
	if r.Spec > 0 {
		b = append(strconv.AppendInt(append(b, "rules["...), int64(r.Spec), 10), "]."...)
	}
	b = append(append(b, r.Section...), '[')
	return append(strconv.AppendInt(b, int64(r.Index), 10), ']')
}

// DirectionResult is the decision taken at one end of the flow.
type DirectionResult struct {
	Decision Decision `json:"decision"`
	// Rules are the rules responsible: the matching deny rules for
	// Denied, the matching allow rules for Allowed. Callers must not
	// modify the slice.
	Rules  []RuleRef `json:"rules,omitempty"`
	Reason string    `json:"reason"`
}

// Result is the verdict on a flow: egress is decided at the source
// endpoint, ingress at the destination, and the flow passes only if both
// allow it.
type Result struct {
	Verdict Decision        `json:"verdict"`
	Egress  DirectionResult `json:"egress"`
	Ingress DirectionResult `json:"ingress"`
}

// combine: a deny anywhere wins, then default deny, then allowed.
func combine(eg, in Decision) Decision {
	switch {
	case eg == Denied || in == Denied:
		return Denied
	case eg == DefaultDenied || in == DefaultDenied:
		return DefaultDenied
	case eg == Allowed || in == Allowed:
		return Allowed
	}
	return NotSelected
}

// CompileOptions change how policies are interpreted.
type CompileOptions struct {
	// AsEnforced treats every policy as if it set enableDefaultDeny true
	// for both directions: "what would be denied if we flipped".
	AsEnforced bool
	// ClusterName, when set, limits the "cluster" entity's pods to those
	// labelled io.cilium.k8s.policy.cluster=ClusterName, as Cilium does;
	// empty counts every pod as in the cluster.
	ClusterName string
	// DisallowLocalhost turns off Cilium's allow-localhost behaviour
	// (on by default in Kubernetes): ingress from the local host to a pod
	// in default deny is allowed unless a deny rule matches.
	DisallowLocalhost bool
	// NoVerdictCache skips memoizing verdicts, for callers that ask each
	// question about once (checking observed edges, one namespace's
	// policies at a time): storing them would only cost.
	NoVerdictCache bool
}

// Reasons that need no formatting, so the hot path does not allocate.
const (
	reasonReply          = "reply of an established connection: allowed by connection tracking"
	reasonNoEgressPolicy = "no policy selects the source for egress"
	reasonNoIngrPolicy   = "no policy selects the destination for ingress"
	reasonSrcNotEndpoint = "the source is not a Cilium endpoint here (world, node or reserved identity); nothing is enforced at egress"
	reasonDstNotEndpoint = "the destination is not a Cilium endpoint here (world, node or reserved identity); nothing is enforced at ingress"
	reasonSrcHost        = "the source is the host: host policies (nodeSelector) need the host firewall and are not evaluated"
	reasonDstHost        = "the destination is the host: host policies (nodeSelector) need the host firewall and are not evaluated"
	reasonNoDefaultDeny  = "allowed: the selecting policies set enableDefaultDeny false for this direction, so only deny rules apply"
	reasonLocalhost      = "allowed: ingress from the local host is always allowed (Cilium's allow-localhost)"
	reasonDefaultDeny    = "default deny: no rule allows this peer on this port"
)

// Evaluate decides the flow as Cilium would enforce the compiled policies.
// It is safe for concurrent use. Endpoint label slices are treated as
// immutable once passed in (flow's constructors and decoders make fresh
// ones): identities are memoized by numeric identity and slice address.
func (e *Engine) Evaluate(f *flow.Flow) Result {
	if f == nil {
		d := DirectionResult{Reason: "no flow"}
		return Result{Egress: d, Ingress: d}
	}
	if f.IsReply {
		d := DirectionResult{Decision: Allowed, Reason: reasonReply}
		return Result{Verdict: Allowed, Egress: d, Ingress: d}
	}
	src := e.identityOf(&f.Source)
	dst := e.identityOf(&f.Destination)
	key, cacheable := verdictKey(src, dst, f)
	cacheable = cacheable && !e.opts.NoVerdictCache
	if cacheable {
		if r := e.verdicts.load(key); r != nil {
			return *r
		}
	}
	r := e.evaluate(src, dst, f)
	if cacheable {
		stored := r
		e.verdicts.store(key, &stored, maxVerdicts)
	}
	return r
}

// verdictKey packs what a verdict depends on when neither end is outside
// the cluster (CIDR and FQDN matches depend on the address and names) and
// the flow carries no L7 data.
func verdictKey(src, dst *identity, f *flow.Flow) (uint64, bool) {
	const idBits = 22
	if src.world || dst.world || f.HTTP != nil || f.DNS != nil ||
		src.idx == 0 || dst.idx == 0 || src.idx >= 1<<idBits || dst.idx >= 1<<idBits {
		return 0, false
	}
	var p uint64
	switch f.Protocol {
	case flow.ProtoTCP:
		p = 1
	case flow.ProtoUDP:
		p = 2
	case flow.ProtoSCTP:
		p = 3
	case flow.ProtoICMP:
		p = 4
	case flow.ProtoICMPv6:
		p = 5
	case "", flow.ProtoAny:
		p = 6
	default:
		return 0, false
	}
	return uint64(src.idx)<<(64-idBits) | uint64(dst.idx)<<(64-2*idBits) | p<<16 | uint64(f.Port()), true
}

func (e *Engine) evaluate(src, dst *identity, f *flow.Flow) Result {
	var r Result
	switch {
	case src.host:
		r.Egress = DirectionResult{Reason: reasonSrcHost}
	case !src.endpoint:
		r.Egress = DirectionResult{Reason: reasonSrcNotEndpoint}
	default:
		pol := e.subjectPolicy(src)
		peer := e.peerView(dst, &f.Destination)
		r.Egress = e.decide(&pol.egress, &peer, f, false)
	}
	switch {
	case dst.host:
		r.Ingress = DirectionResult{Reason: reasonDstHost}
	case !dst.endpoint:
		r.Ingress = DirectionResult{Reason: reasonDstNotEndpoint}
	default:
		pol := e.subjectPolicy(dst)
		peer := e.peerView(src, &f.Source)
		r.Ingress = e.decide(&pol.ingress, &peer, f, true)
	}
	r.Verdict = combine(r.Egress.Decision, r.Ingress.Decision)
	return r
}

// decide evaluates one direction at one subject.
func (e *Engine) decide(dp *dirPolicy, peer *peerView, f *flow.Flow, ingress bool) DirectionResult {
	if !dp.selected {
		if ingress {
			return DirectionResult{Reason: reasonNoIngrPolicy}
		}
		return DirectionResult{Reason: reasonNoEgressPolicy}
	}
	proto, port := f.Protocol, f.Port()

	var first *entry
	var rules []RuleRef
	for _, en := range dp.deny {
		if !en.matchL4(proto, port) || !e.matchPeer(en, peer, dp.denyReqs) {
			continue
		}
		if first == nil {
			first = en
			rules = en.refs
		} else {
			rules = appendRef(rules, en.ref)
		}
	}
	if first != nil {
		return DirectionResult{Decision: Denied, Rules: rules, Reason: first.reason}
	}

	var full, rejected, named *entry // full: allowed with nothing left unchecked
	var buf [32]*entry
	for _, en := range dp.allowFor(buf[:0], proto, port) {
		if !en.matchL4(proto, port) {
			if named == nil && en.hasNamed && en.couldMatchNamed(proto) && e.matchPeer(en, peer, dp.allowReqs) {
				named = en
			}
			continue
		}
		if !e.matchPeer(en, peer, dp.allowReqs) {
			continue
		}
		v := l7Allowed
		if l7 := en.l7For(proto, port); l7 != nil && dp.defaultDeny {
			v = l7.check(f)
		}
		switch v {
		case l7Rejected:
			if rejected == nil {
				rejected = en
			}
			continue
		case l7Allowed:
			if full == nil {
				full = en
			}
		}
		if first == nil {
			first = en
			rules = en.refs
		} else {
			rules = appendRef(rules, en.ref)
		}
	}
	switch {
	case !dp.defaultDeny:
		return DirectionResult{Decision: Allowed, Rules: rules, Reason: reasonNoDefaultDeny}
	case full != nil:
		return DirectionResult{Decision: Allowed, Rules: rules, Reason: full.reason}
	case first != nil:
		return DirectionResult{Decision: Allowed, Rules: rules, Reason: first.reasonL4}
	case ingress && peer.id.localhost && !e.opts.DisallowLocalhost && len(dp.allow)+len(dp.deny) > 0:
		// Cilium adds its localhost allow next to the rules selecting the
		// endpoint; an initialising endpoint no rule selects gets none.
		return DirectionResult{Decision: Allowed, Reason: reasonLocalhost}
	case rejected != nil:
		return DirectionResult{Decision: DefaultDenied, Rules: rejected.refs, Reason: rejected.reasonL7}
	case named != nil:
		return DirectionResult{Decision: DefaultDenied, Reason: named.reasonNamed}
	}
	// Rules on this port whose peers cannot be decided from the flow
	// record deserve a mention: the verdict may be wrong for them.
	for _, en := range dp.allow {
		if !en.matchL4(proto, port) {
			continue
		}
		switch {
		case len(en.unresolved) > 0:
			return DirectionResult{Decision: DefaultDenied, Reason: en.reasonUnresolved}
		case len(en.fqdnSels) > 0 && peer.id.world && len(peer.names) == 0 && peer.id.fqdnBits == nil:
			return DirectionResult{Decision: DefaultDenied, Reason: en.reasonNoNames}
		}
	}
	return DirectionResult{Decision: DefaultDenied, Reason: dp.reasonDefault}
}

// appendRef copies before appending so a rule's shared one-element slice
// is never written to.
func appendRef(rs []RuleRef, r RuleRef) []RuleRef {
	out := make([]RuleRef, len(rs), len(rs)+2)
	copy(out, rs)
	return append(out, r)
}
