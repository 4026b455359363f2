package advisor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Labels and annotations the advisor puts on every document.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedByPosture    = "posture"
	LabelWorkload       = "posture.dev/workload"
	LabelKind           = "posture.dev/kind" // baseline, platform, narrow
	AnnotationEvidence  = "posture.dev/evidence"
	annotationRulePrefx = "posture.dev/"
)

// Policy names that are not per workload.
const (
	NameBaseline    = "posture-baseline"
	NamePlatformDNS = "posture-platform-dns"
)

// Kinds of document.
const (
	KindBaseline = "baseline"
	KindPlatform = "platform"
	KindNarrow   = "narrow"
)

var (
	dnsPorts = []portKey{{proto: flow.ProtoTCP, port: 53}, {proto: flow.ProtoUDP, port: 53}}
	dnsAll   = []policy.PortRuleDNS{{MatchPattern: "*"}}
)

func boolp(b bool) *bool { return &b }

func newPolicy(ns, name, kind, wl string) *policy.Policy {
	p := &policy.Policy{
		APIVersion: policy.APIVersion,
		Kind:       policy.KindCNP,
		Metadata: policy.ObjectMeta{
			Name:        name,
			Namespace:   ns,
			Labels:      map[string]string{LabelManagedBy: ManagedByPosture, LabelKind: kind},
			Annotations: map[string]string{},
		},
		Spec: &policy.Rule{EnableDefaultDeny: &policy.DefaultDenyConfig{Ingress: boolp(false), Egress: boolp(false)}},
	}
	if wl != "" {
		p.Metadata.Labels[LabelWorkload] = wl
	}
	return p
}

// withDefaultDeny copies p with default deny set per direction. Rules,
// selectors, labels and annotations are shared: documents in a proposal
// are read-only (WorkloadPolicy hands out copies callers may change).
func withDefaultDeny(p *policy.Policy, ingress, egress bool) *policy.Policy {
	c := *p
	spec := *p.Spec
	spec.EnableDefaultDeny = &policy.DefaultDenyConfig{Ingress: boolp(ingress), Egress: boolp(egress)}
	c.Spec = &spec
	return &c
}

// docBuilder assembles one policy's rules with their evidence.
type docBuilder struct {
	p       *policy.Policy
	expls   []Explanation
	pc      portRuleCache // optional
	scratch []byte        // evidence text is built here, then copied once
}

// reserve makes room for about n rules' evidence and explanations, so the
// annotations and explanations do not grow step by step.
func (d *docBuilder) reserve(n int) {
	if len(d.p.Metadata.Annotations) == 0 {
		d.p.Metadata.Annotations = make(map[string]string, n+1)
	}
	d.expls = slices.Grow(d.expls, n+1)
}

func (d *docBuilder) ingress(specs []ruleSpec) {
	d.p.Spec.Ingress = slices.Grow(d.p.Spec.Ingress, len(specs))
	d.expls = slices.Grow(d.expls, len(specs))
	for i := range specs {
		s := &specs[i]
		start := len(d.p.Spec.Ingress)
		d.p.Spec.Ingress = s.appendIngressRules(d.p.Spec.Ingress, d.pc)
		for idx := start; idx < len(d.p.Spec.Ingress); idx++ {
			d.evidence("ingress", idx, "from ", s)
		}
	}
}

func (d *docBuilder) egress(specs []ruleSpec) {
	d.p.Spec.Egress = slices.Grow(d.p.Spec.Egress, len(specs))
	d.expls = slices.Grow(d.expls, len(specs))
	for i := range specs {
		s := &specs[i]
		start := len(d.p.Spec.Egress)
		d.p.Spec.Egress = s.appendEgressRules(d.p.Spec.Egress, d.pc)
		for idx := start; idx < len(d.p.Spec.Egress); idx++ {
			d.evidence("egress", idx, "to ", s)
		}
	}
}

func (d *docBuilder) evidence(dir string, idx int, prefix string, s *ruleSpec) {
	b := append(d.scratch[:0], prefix...)
	b = append(b, s.peerText...)
	if anyPort(s.ports) {
		b = append(b, " on any port (a flow without a port was observed)"...)
	} else if len(s.ports) > 0 {
		b = append(b, " on "...)
		b = appendPortsText(b, s.ports)
	}
	b = append(b, ": "...)
	b = s.st.appendText(b)
	text := string(b)
	d.scratch = b
	key, rule := ruleNames(dir, idx)
	d.p.Metadata.Annotations[key] = text
	d.expls = append(d.expls, Explanation{Policy: d.p.Metadata.Name, Rule: rule, Text: text})
}

// ruleNameTable holds the annotation keys and rule names of the first
// rules of each direction, shared by every document instead of built per
// rule. Read-only after init.
var ruleNameTable = func() (t [2][256][2]string) {
	for d, dir := range []string{"ingress", "egress"} {
		for i := range t[d] {
			t[d][i] = newRuleNames(dir, i)
		}
	}
	return t
}()

func newRuleNames(dir string, idx int) [2]string {
	n := strconv.Itoa(idx)
	return [2]string{annotationRulePrefx + dir + "." + n, dir + "[" + n + "]"}
}

// ruleNames returns the annotation key and explanation name of rule idx.
func ruleNames(dir string, idx int) (key, rule string) {
	d := -1
	switch dir {
	case "ingress":
		d = 0
	case "egress":
		d = 1
	}
	if d >= 0 && idx < len(ruleNameTable[d]) {
		return ruleNameTable[d][idx][0], ruleNameTable[d][idx][1]
	}
	r := newRuleNames(dir, idx)
	return r[0], r[1]
}

// denyRest closes a direction without observed traffic: Cilium's
// "egress: [{}]" selects no peer, so default deny allows nothing.
func (d *docBuilder) denyRest(ingress, egress bool) {
	if ingress && len(d.p.Spec.Ingress) == 0 {
		d.p.Spec.Ingress = []policy.IngressRule{{}}
		d.expls = append(d.expls, Explanation{Policy: d.p.Metadata.Name, Rule: "ingress[0]",
			Text: "no ingress was observed: once ingress default deny is on, nothing may connect (an empty rule selects no peer)"})
		d.p.Metadata.Annotations[annotationRulePrefx+"ingress.0"] = "no ingress observed; the empty rule allows nothing"
	}
	if egress && len(d.p.Spec.Egress) == 0 {
		d.p.Spec.Egress = []policy.EgressRule{{}}
		d.expls = append(d.expls, Explanation{Policy: d.p.Metadata.Name, Rule: "egress[0]",
			Text: "no egress beyond platform allowances was observed: once egress default deny is on, only the platform allowances remain"})
		d.p.Metadata.Annotations[annotationRulePrefx+"egress.0"] = "no egress observed beyond platform allowances; the empty rule allows nothing"
	}
}

func (d *docBuilder) describe(summary string, st *stats) {
	d.p.Spec.Description = summary
	d.p.Metadata.Annotations[AnnotationEvidence] = st.text()
	d.expls = append(d.expls, Explanation{Policy: d.p.Metadata.Name, Text: summary + " Evidence: " + st.text() + "."})
}

// baseline allows everything within the namespace, staged without
// default deny so that applying it changes nothing yet.
func baseline(ns string, st *stats) (*policy.Policy, []Explanation) {
	d := &docBuilder{p: newPolicy(ns, NameBaseline, KindBaseline, "")}
	d.p.Spec.EndpointSelector = &policy.EndpointSelector{}
	d.p.Spec.Ingress = []policy.IngressRule{{IngressCommonRule: policy.IngressCommonRule{FromEndpoints: []policy.EndpointSelector{{}}}}}
	d.p.Spec.Egress = []policy.EgressRule{{EgressCommonRule: policy.EgressCommonRule{ToEndpoints: []policy.EndpointSelector{{}}}}}
	d.describe(fmt.Sprintf("posture baseline for %s: allows ingress and egress between pods of the namespace. Transitional: staged with default deny off so it changes nothing, and removed once the narrow allows are enforced.", ns), st)
	return d.p, d.expls
}

func selText(es policy.EndpointSelector) string {
	var parts []string
	for _, k := range sortedKeys(es.MatchLabels) {
		parts = append(parts, k+"="+es.MatchLabels[k])
	}
	for _, r := range es.MatchExpressions {
		parts = append(parts, "!"+r.Key)
	}
	if len(parts) == 0 {
		return "all pods"
	}
	return strings.Join(parts, ",")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// small maps: insertion sort keeps this allocation-light
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
