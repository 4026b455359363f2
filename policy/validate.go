package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Validation codes; lint reports them as rule ids.
const (
	CodeInvalidDocument = "invalid-document"
	CodeName            = "invalid-name"
	CodeMissingSpec     = "missing-spec"
	CodeSelector        = "invalid-selector"
	CodeEmptyRule       = "empty-rule"
	CodeCombinedPeers   = "combined-peers"
	CodeCIDR            = "invalid-cidr"
	CodeEntity          = "invalid-entity"
	CodePort            = "invalid-port"
	CodeProtocol        = "invalid-protocol"
	CodeL7              = "l7-not-allowed"
	CodeHTTPNonTCP      = "http-non-tcp"
	CodeRegex           = "invalid-regex"
	CodeFQDN            = "invalid-fqdn"
	CodeICMP            = "invalid-icmp"
	CodeValue           = "invalid-field-value"
)

// maxPorts and maxICMPFields are Cilium's per-rule limits.
const (
	maxPorts      = 40
	maxICMPFields = 40
)

// Validate checks p the way Cilium v1.20 does when it accepts a policy:
// its CRD schema (kinds, enums, patterns, formats, one-of constraints) and
// the agent's rule sanitizer (selector and section rules, port and
// protocol rules, where L7 is allowed, CIDR excepts, FQDN syntax). The
// error is an ErrorList naming file, line and field path. fromRequires and
// toRequires are accepted (Cilium 1.15 enforces them; lint warns that
// newer CRDs reject them). One check is stricter than Cilium: an endPort
// below its port is an error here, where Cilium silently matches the single
// port.
func Validate(p *Policy) error {
	if p == nil {
		return ErrorList{{Code: CodeInvalidDocument, Msg: "policy is nil"}}
	}
	v := &validator{p: p}
	v.policy()
	return v.errs.err()
}

type validator struct {
	p    *Policy
	errs ErrorList
}

func (v *validator) fail(path, code, hint, format string, args ...any) {
	line, col := v.p.Origin.Position(path)
	file := v.p.Origin.File
	if file == "" {
		file = "policy " + policyLabel(v.p)
	}
	v.errs = append(v.errs, &Error{File: file, Line: line, Column: col, Doc: v.p.Origin.Doc, Path: v.p.Origin.DisplayPath(path),
		Code: code, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// policyLabel names a policy for messages: namespace/name or name.
func policyLabel(p *Policy) string {
	if p.Metadata.Namespace != "" {
		return p.Metadata.Namespace + "/" + p.Metadata.Name
	}
	return p.Metadata.Name
}

func (v *validator) policy() {
	p := v.p
	if p.APIVersion != APIVersion {
		v.fail("apiVersion", CodeInvalidDocument, "use apiVersion: cilium.io/v2", "apiVersion must be %s, not %q", APIVersion, p.APIVersion)
	}
	if p.Kind != KindCNP && p.Kind != KindCCNP {
		v.fail("kind", CodeInvalidDocument, "", "kind must be %s or %s, not %q", KindCNP, KindCCNP, p.Kind)
	}
	switch n := p.Metadata.Name; {
	case n == "":
		v.fail("metadata.name", CodeName, "", "metadata.name is required")
	case len(n) > 253 || !dns1123Subdomain.MatchString(n):
		v.fail("metadata.name", CodeName, "lower-case letters, digits, '-' and '.'", "invalid name %q", n)
	}
	if ns := p.Metadata.Namespace; ns != "" && (len(ns) > 63 || !dns1123Label.MatchString(ns)) {
		v.fail("metadata.namespace", CodeName, "lower-case letters, digits and '-'", "invalid namespace %q", ns)
	}
	if p.Spec == nil && len(p.Specs) == 0 {
		v.fail("", CodeMissingSpec, "", "spec or specs must be provided")
	}
	for i, r := range p.Rules() {
		v.rule(r, rulePath(p, i))
	}
}

func (v *validator) rule(r *Rule, path string) {
	if len(r.Ingress) == 0 && len(r.IngressDeny) == 0 && len(r.Egress) == 0 && len(r.EgressDeny) == 0 {
		v.fail(path, CodeEmptyRule, "add ingress, egress, ingressDeny or egressDeny rules (an empty list [] counts as none)",
			"rule must have at least one of ingress, ingressDeny, egress, egressDeny")
	}
	switch {
	case r.EndpointSelector == nil && r.NodeSelector == nil:
		v.fail(path, CodeSelector, "add endpointSelector: {} to select every pod of the namespace",
			"rule must have one of endpointSelector or nodeSelector")
	case r.EndpointSelector != nil && r.NodeSelector != nil:
		v.fail(path+".nodeSelector", CodeSelector, "", "rule cannot have both endpointSelector and nodeSelector")
	}
	if r.EndpointSelector != nil {
		v.selector(r.EndpointSelector, path+".endpointSelector")
	}
	host := r.NodeSelector != nil
	if host {
		v.selector(r.NodeSelector, path+".nodeSelector")
		if v.p.Kind == KindCNP {
			v.fail(path+".nodeSelector", CodeSelector, "host policies must be CiliumClusterwideNetworkPolicy",
				"a CiliumNetworkPolicy cannot have nodeSelector")
		}
	}
	for i := range r.Ingress {
		v.ingress(&r.Ingress[i], index(path+".ingress", i), host)
	}
	for i := range r.IngressDeny {
		d := &r.IngressDeny[i]
		p := index(path+".ingressDeny", i)
		v.ingressCommon(&d.IngressCommonRule, p)
		v.icmps(d.ICMPs, len(d.ToPorts), p)
		for j := range d.ToPorts {
			v.ports(d.ToPorts[j].Ports, index(p+".toPorts", j), false)
		}
	}
	for i := range r.Egress {
		v.egress(&r.Egress[i], index(path+".egress", i), host)
	}
	for i := range r.EgressDeny {
		d := &r.EgressDeny[i]
		p := index(path+".egressDeny", i)
		v.egressCommon(&d.EgressCommonRule, 0, p)
		v.icmps(d.ICMPs, len(d.ToPorts), p)
		for j := range d.ToPorts {
			v.ports(d.ToPorts[j].Ports, index(p+".toPorts", j), false)
		}
	}
	for i, l := range r.Labels {
		if l.Key == "" {
			v.fail(index(path+".labels", i), CodeValue, "", "label key is required")
		}
	}
	if r.Log != nil && (len(r.Log.Value) > 32 || strings.ContainsFunc(r.Log.Value, isControl)) {
		v.fail(path+".log.value", CodeValue, "", "log value must be at most 32 printable characters")
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 }

// selector checks label keys and values and matchExpressions.
func (v *validator) selector(s *EndpointSelector, path string) {
	for _, k := range sortedKeys(s.MatchLabels) {
		kp := join(path+".matchLabels", k)
		if msg := labelKeyProblem(k); msg != "" {
			v.fail(kp, CodeSelector, "", "invalid label key %q: %s", k, msg)
		}
		if msg := labelValueProblem(s.MatchLabels[k]); msg != "" {
			v.fail(kp, CodeSelector, "", "invalid value %q for %s: %s", s.MatchLabels[k], k, msg)
		}
	}
	for i, e := range s.MatchExpressions {
		ep := index(path+".matchExpressions", i)
		if msg := labelKeyProblem(e.Key); msg != "" {
			v.fail(ep+".key", CodeSelector, "", "invalid label key %q: %s", e.Key, msg)
		}
		switch e.Operator {
		case OpIn, OpNotIn:
			if len(e.Values) == 0 {
				v.fail(ep+".values", CodeSelector, "", "values must be given when operator is %s", e.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(e.Values) > 0 {
				v.fail(ep+".values", CodeSelector, "remove values", "values must be empty when operator is %s", e.Operator)
			}
		default:
			v.fail(ep+".operator", CodeSelector, "use In, NotIn, Exists or DoesNotExist", "invalid operator %q", e.Operator)
		}
		for j, val := range e.Values {
			if msg := labelValueProblem(val); msg != "" {
				v.fail(index(ep+".values", j), CodeSelector, "", "invalid value %q: %s", val, msg)
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// peers reports the first two kinds of peer selector a rule combines;
// Cilium accepts one kind per rule.
func (v *validator) peers(path string, members ...any) {
	var set []string
	for i := 0; i+1 < len(members); i += 2 {
		if n := members[i+1].(int); n > 0 {
			set = append(set, members[i].(string))
		}
	}
	if len(set) > 1 {
		v.fail(path+"."+set[1], CodeCombinedPeers, "split them into separate rules (list entries)",
			"combining %s and %s in one rule is not supported", set[0], set[1])
	}
}

func (v *validator) ingressCommon(r *IngressCommonRule, path string) {
	v.peers(path, "fromEndpoints", len(r.FromEndpoints), "fromCIDR", len(r.FromCIDR), "fromCIDRSet", len(r.FromCIDRSet),
		"fromEntities", len(r.FromEntities), "fromNodes", len(r.FromNodes), "fromGroups", len(r.FromGroups))
	v.endpoints(r.FromEndpoints, path+".fromEndpoints")
	v.endpoints(r.FromRequires, path+".fromRequires")
	v.endpoints(r.FromNodes, path+".fromNodes")
	v.cidrs(r.FromCIDR, path+".fromCIDR")
	v.cidrSets(r.FromCIDRSet, path+".fromCIDRSet")
	v.entities(r.FromEntities, path+".fromEntities")
}

func (v *validator) egressCommon(r *EgressCommonRule, fqdns int, path string) {
	v.peers(path, "toEndpoints", len(r.ToEndpoints), "toCIDR", len(r.ToCIDR), "toCIDRSet", len(r.ToCIDRSet),
		"toEntities", len(r.ToEntities), "toServices", len(r.ToServices), "toNodes", len(r.ToNodes),
		"toGroups", len(r.ToGroups), "toFQDNs", fqdns)
	v.endpoints(r.ToEndpoints, path+".toEndpoints")
	v.endpoints(r.ToRequires, path+".toRequires")
	v.endpoints(r.ToNodes, path+".toNodes")
	v.cidrs(r.ToCIDR, path+".toCIDR")
	v.cidrSets(r.ToCIDRSet, path+".toCIDRSet")
	v.entities(r.ToEntities, path+".toEntities")
	for i, s := range r.ToServices {
		sp := index(path+".toServices", i)
		if s.K8sServiceSelector != nil {
			v.selector(&s.K8sServiceSelector.Selector, sp+".k8sServiceSelector.selector")
		}
	}
}

func (v *validator) endpoints(ss []EndpointSelector, path string) {
	for i := range ss {
		v.selector(&ss[i], index(path, i))
	}
}

func (v *validator) cidrs(cs []string, path string) {
	for i, c := range cs {
		if _, msg, hint := checkCIDR(c); msg != "" {
			v.fail(index(path, i), CodeCIDR, hint, "%s", msg)
		}
	}
}

func (v *validator) cidrSets(cs []CIDRRule, path string) {
	for i, c := range cs {
		cp := index(path, i)
		n := 0
		for _, set := range []bool{c.CIDR != "", c.CIDRGroupRef != "", c.CIDRGroupSelector != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			v.fail(cp, CodeCIDR, "", "exactly one of cidr, cidrGroupRef or cidrGroupSelector must be set")
		}
		if c.CIDRGroupRef != "" && (len(c.CIDRGroupRef) > 253 || !dns1123Subdomain.MatchString(c.CIDRGroupRef)) {
			v.fail(cp+".cidrGroupRef", CodeCIDR, "", "invalid CiliumCIDRGroup name %q", c.CIDRGroupRef)
		}
		if c.CIDRGroupSelector != nil {
			v.selector(c.CIDRGroupSelector, cp+".cidrGroupSelector")
		}
		if c.CIDR == "" {
			continue
		}
		prefix, msg, hint := checkCIDR(c.CIDR)
		if msg != "" {
			v.fail(cp+".cidr", CodeCIDR, hint, "%s", msg)
			continue
		}
		for j, e := range c.Except {
			ep := index(cp+".except", j)
			ex, msg, hint := checkCIDR(e)
			switch {
			case msg != "":
				v.fail(ep, CodeCIDR, hint, "%s", msg)
			case prefix.Addr().Is4() != ex.Addr().Is4() || prefix.Bits() > ex.Bits() || !prefix.Contains(ex.Addr()):
				v.fail(ep, CodeCIDR, "an except must lie inside its cidr", "except %s is not inside %s", e, c.CIDR)
			}
		}
	}
}

func (v *validator) entities(es []string, path string) {
	for i, e := range es {
		if !slices.Contains(crdEntities, e) {
			hint := "one of: " + strings.Join(crdEntities, ", ")
			if e == EntityWorldIPv4 || e == EntityWorldIPv6 {
				hint = "Cilium's CRD does not accept " + e + "; use world, or toCIDR 0.0.0.0/0 or ::/0"
			}
			v.fail(index(path, i), CodeEntity, hint, "unknown entity %q", e)
		}
	}
}

func (v *validator) ingress(r *IngressRule, path string, host bool) {
	v.ingressCommon(&r.IngressCommonRule, path)
	v.icmps(r.ICMPs, len(r.ToPorts), path)
	v.auth(r.Authentication, path)
	for i := range r.ToPorts {
		pr := &r.ToPorts[i]
		pp := index(path+".toPorts", i)
		if host && !l7Empty(pr.Rules) {
			v.fail(pp+".rules", CodeL7, "host policies are enforced without the L7 proxy", "L7 rules are not supported in host policies (nodeSelector)")
		}
		if pr.Rules != nil && len(pr.Rules.DNS) > 0 {
			v.fail(pp+".rules.dns", CodeL7, "DNS rules belong in egress rules towards the DNS server", "DNS rules are not allowed on ingress")
		}
		if pr.Listener != nil {
			v.fail(pp+".listener", CodeL7, "", "listener is not allowed on ingress")
		}
		v.portRule(pr, pp)
	}
}

func (v *validator) egress(r *EgressRule, path string, host bool) {
	v.egressCommon(&r.EgressCommonRule, len(r.ToFQDNs), path)
	v.icmps(r.ICMPs, len(r.ToPorts), path)
	v.auth(r.Authentication, path)
	for i, f := range r.ToFQDNs {
		if msg := fqdnProblem(f.MatchName, f.MatchPattern); msg != "" {
			v.fail(index(path+".toFQDNs", i), CodeFQDN, "", "%s", msg)
		}
	}
	for i := range r.ToPorts {
		pr := &r.ToPorts[i]
		pp := index(path+".toPorts", i)
		if host && pr.Rules != nil && len(pr.Rules.HTTP) > 0 {
			v.fail(pp+".rules.http", CodeL7, "", "HTTP rules are not supported in host policies (nodeSelector)")
		}
		v.portRule(pr, pp)
	}
}

func (v *validator) auth(a *Authentication, path string) {
	if a != nil && a.Mode != "disabled" && a.Mode != "required" && a.Mode != "test-always-fail" {
		v.fail(path+".authentication.mode", CodeValue, "use required or disabled", "invalid authentication mode %q", a.Mode)
	}
}
