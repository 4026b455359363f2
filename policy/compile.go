package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/posture-dev/posture/flow"
)

// Engine is a compiled policy set. Selectors are deduplicated into one
// table; each identity seen is resolved once to the set of selectors that
// match it and to its own per-direction policy, and memoized.
type Engine struct {
	opts CompileOptions

	sels       []labelSel
	selIDs     map[string]int32
	peerSelIDs map[peerSelKey]int32          // during Compile only
	dnsRules   map[dnsRulesKey]*l7Rules      // during Compile only
	anchored   map[string]map[string][]int32 // key -> value -> selectors requiring it
	unanchored []int32
	cidrs      []cidrSel
	fqdns      []dnsMatcher
	fqdnIDs    map[string]int32

	entries   []*entry
	entrySlab []entry // where entries live
	// bySubject lists, per selector id, the entries it is the subject of.
	bySubject [][]*entry

	mu      sync.RWMutex
	nextIdx uint32
	byID    lfMap[identity]
	byKey   map[string]*identity
	ips     map[string]*ipInfo
	names   map[string][]uint64
	nWords  int

	// verdicts memoizes results per (source identity, destination
	// identity, protocol, port) for flows whose verdict depends on nothing
	// else: Cilium's per-endpoint policy map, materialized lazily.
	verdicts lfMap[Result]
}

// maxVerdicts bounds the verdict cache; it is cleared when full.
const maxVerdicts = 1 << 18

// entry is one rule of one section of one policy, compiled.
type entry struct {
	ref         RuleRef
	refs        []RuleRef // ref as a shared one-element slice
	subject     int32
	ingress     bool
	deny        bool
	defaultDeny bool

	none     bool    // an explicitly empty peer list: selects nothing
	all      bool    // no peers but ports: every peer
	epSels   []int32 // from/toEndpoints (fromRequires applies to these)
	lblSels  []int32 // entities and nodes
	cidrSels []int32
	fqdnSels []int32
	// unresolved names peers posture cannot resolve from flows alone
	// (toServices, groups, CIDR groups); they select nothing.
	unresolved []string
	reqSels    []int32 // this rule's from/toRequires

	hasL4    bool
	ports    []portMatch
	hasNamed bool

	reason      string // "allowed by ..." / "denied by ..."
	reasonL4    string // allowed at L4, L7 not checkable
	reasonL7    string // L7 rejected
	reasonNamed string
	// Hints for default deny when the rule's peers could not be decided.
	reasonUnresolved string
	reasonNoNames    string
}

// Compile resolves a policy set once, so that Evaluate is fast. It fails
// on a policy it cannot interpret (unknown entity, bad CIDR, bad regex),
// naming the policy and field.
func Compile(ps []*Policy, opts CompileOptions) (*Engine, error) {
	return compile(ps, opts, nil)
}

// A Compiler compiles policy sets one after another, reusing the largest
// parts of the engine it returned last, for callers that use one engine at
// a time: once Compile is called again, the previous engine must not be
// used. Not safe for concurrent use.
type Compiler struct {
	last *Engine
}

// Compile is the package's Compile, reusing memory of the last engine.
func (c *Compiler) Compile(ps []*Policy, opts CompileOptions) (*Engine, error) {
	e, err := compile(ps, opts, c.last)
	if err == nil {
		c.last = e
	}
	return e, err
}

// compile compiles into a new engine, taking over prev's rule array,
// rule list and selector maps (cleared) when prev is not nil.
func compile(ps []*Policy, opts CompileOptions, prev *Engine) (*Engine, error) {
	// Compiled rules come from one array: counted first, so it never moves.
	n := 0
	for _, p := range ps {
		if p == nil {
			continue
		}
		for _, r := range p.Rules() {
			n += len(r.Ingress) + len(r.IngressDeny) + len(r.Egress) + len(r.EgressDeny)
		}
	}
	// Selectors are fewer than rules when rules name the same peers; a
	// quarter of them saves the selector maps most of their growing.
	e := &Engine{
		opts:       opts,
		peerSelIDs: make(map[peerSelKey]int32, n/4),
		dnsRules:   map[dnsRulesKey]*l7Rules{},
		anchored:   map[string]map[string][]int32{},
		fqdnIDs:    map[string]int32{},
		byKey:      map[string]*identity{},
		ips:        map[string]*ipInfo{},
		names:      map[string][]uint64{},
	}
	if prev != nil && cap(prev.entrySlab) >= n {
		clear(prev.entrySlab[:cap(prev.entrySlab)])
		clear(prev.selIDs)
		e.entrySlab, e.entries, e.selIDs = prev.entrySlab[:0], prev.entries[:0], prev.selIDs
	} else {
		e.entrySlab, e.selIDs = make([]entry, 0, n), make(map[string]int32, n/4)
	}
	var errs []error
	for _, p := range ps {
		if p == nil {
			continue
		}
		if err := e.addPolicy(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", policyName(p), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// These would hold the policies' selectors and rules alive.
	e.peerSelIDs, e.dnsRules = nil, nil
	e.nWords = (len(e.sels) + 63) / 64
	e.bySubject = make([][]*entry, len(e.sels))
	for _, en := range e.entries {
		e.bySubject[en.subject] = append(e.bySubject[en.subject], en)
	}
	return e, nil
}

func policyName(p *Policy) string {
	n := p.Kind + " " + p.Metadata.Name
	if p.Metadata.Namespace != "" {
		n = p.Kind + " " + p.Metadata.Namespace + "/" + p.Metadata.Name
	}
	if p.Origin.File != "" {
		n = fmt.Sprintf("%s:%d: %s", p.Origin.File, p.Origin.Line, n)
	}
	return n
}

// internSel returns the id of an equal selector, adding it if new.
func (e *Engine) internSel(s labelSel) int32 {
	k := s.key()
	if id, ok := e.selIDs[k]; ok {
		return id
	}
	id := int32(len(e.sels))
	e.sels = append(e.sels, s)
	e.selIDs[k] = id
	if k, v, ok := s.anchor(); ok {
		if e.anchored[k] == nil {
			e.anchored[k] = map[string][]int32{}
		}
		e.anchored[k][v] = append(e.anchored[k][v], id)
	} else {
		e.unanchored = append(e.unanchored, id)
	}
	return id
}

func (e *Engine) internFQDN(m dnsMatcher) int32 {
	if id, ok := e.fqdnIDs[m.text]; ok {
		return id
	}
	id := int32(len(e.fqdns))
	e.fqdns = append(e.fqdns, m)
	e.fqdnIDs[m.text] = id
	return id
}

func (e *Engine) addPolicy(p *Policy) error {
	ccnp := p.Clusterwide()
	ns := p.Metadata.Namespace
	switch {
	case p.Kind != KindCNP && p.Kind != KindCCNP:
		return fmt.Errorf("kind %q: must be %s or %s", p.Kind, KindCNP, KindCCNP)
	case !ccnp && ns == "":
		// kubectl puts a namespaced object without a namespace into
		// "default"; fragments loaded from documentation land here too.
		ns = "default"
	case ccnp:
		ns = ""
	}
	rules := p.Rules()
	if len(rules) == 0 {
		return errors.New("spec: a policy needs spec or specs")
	}
	for i, r := range rules {
		field := "spec"
		if p.Spec == nil || i > 0 {
			j := i
			if p.Spec != nil {
				j--
			}
			field = fmt.Sprintf("specs[%d]", j)
		}
		if err := e.addRule(p, ns, i, r); err != nil {
			return fmt.Errorf("%s.%w", field, err)
		}
	}
	return nil
}

// addRule compiles one rule set the way Cilium's ParseToCiliumRule and
// RulesToPolicyEntries do.
func (e *Engine) addRule(p *Policy, ns string, spec int, r *Rule) error {
	var subject labelSel
	switch {
	case r.EndpointSelector != nil && r.NodeSelector != nil:
		return errors.New("endpointSelector: only one of endpointSelector and nodeSelector may be set")
	case r.NodeSelector != nil:
		if ns != "" {
			return errors.New("nodeSelector: only a CiliumClusterwideNetworkPolicy may select nodes")
		}
		// Host policies select the node, never a pod; the host firewall
		// is not modelled, so they take part in no decision.
		return nil
	case r.EndpointSelector == nil:
		return errors.New("endpointSelector: one of endpointSelector and nodeSelector is required")
	}
	subject, err := newLabelSel(r.EndpointSelector)
	if err != nil {
		return fmt.Errorf("endpointSelector.%w", err)
	}
	matchesInit := subject.hasKey(flow.SourceReserved, "init")
	if ns != "" {
		subject.setMatch(flow.SourceK8s, keyNamespace, ns)
	}
	subj := e.internSel(subject)

	dd := func(v *bool) bool { return e.opts.AsEnforced || v == nil || *v }
	ddIn, ddEg := true, true
	if r.EnableDefaultDeny != nil {
		ddIn, ddEg = dd(r.EnableDefaultDeny.Ingress), dd(r.EnableDefaultDeny.Egress)
	}
	c := ruleCompiler{e: e, ns: ns, matchesInit: matchesInit}
	mk := func(section string, idx int, ingress, deny, defDeny bool) *entry {
		e.entrySlab = append(e.entrySlab, entry{
			ref:         RuleRef{Policy: p.Metadata.Name, Namespace: ns, Index: idx, Section: section, Spec: spec},
			subject:     subj,
			ingress:     ingress,
			deny:        deny,
			defaultDeny: defDeny,
		})
		en := &e.entrySlab[len(e.entrySlab)-1]
		en.refs = unsafe.Slice(&en.ref, 1) // no allocation of its own
		return en
	}
	for i := range r.Ingress {
		ir := &r.Ingress[i]
		en := mk("ingress", i, true, false, ddIn)
		if err := c.ingressPeers(en, &ir.IngressCommonRule); err != nil {
			return fmt.Errorf("ingress[%d].%w", i, err)
		}
		if err := c.ports(en, ir.ToPorts, nil, ir.ICMPs); err != nil {
			return fmt.Errorf("ingress[%d].%w", i, err)
		}
		e.addEntry(en)
	}
	for i := range r.IngressDeny {
		ir := &r.IngressDeny[i]
		en := mk("ingressDeny", i, true, true, ddIn)
		if err := c.ingressPeers(en, &ir.IngressCommonRule); err != nil {
			return fmt.Errorf("ingressDeny[%d].%w", i, err)
		}
		if err := c.ports(en, nil, ir.ToPorts, ir.ICMPs); err != nil {
			return fmt.Errorf("ingressDeny[%d].%w", i, err)
		}
		e.addEntry(en)
	}
	for i := range r.Egress {
		er := &r.Egress[i]
		en := mk("egress", i, false, false, ddEg)
		if err := c.egressPeers(en, &er.EgressCommonRule, er.ToFQDNs); err != nil {
			return fmt.Errorf("egress[%d].%w", i, err)
		}
		if err := c.ports(en, er.ToPorts, nil, er.ICMPs); err != nil {
			return fmt.Errorf("egress[%d].%w", i, err)
		}
		e.addEntry(en)
	}
	for i := range r.EgressDeny {
		er := &r.EgressDeny[i]
		en := mk("egressDeny", i, false, true, ddEg)
		if err := c.egressPeers(en, &er.EgressCommonRule, nil); err != nil {
			return fmt.Errorf("egressDeny[%d].%w", i, err)
		}
		if err := c.ports(en, nil, er.ToPorts, er.ICMPs); err != nil {
			return fmt.Errorf("egressDeny[%d].%w", i, err)
		}
		e.addEntry(en)
	}
	return nil
}

func (e *Engine) addEntry(en *entry) {
	// One allocation for the reason, the rule's name a part of it.
	prefix := "allowed by "
	if en.deny {
		prefix = "denied by "
	}
	var buf [128]byte
	en.reason = string(en.ref.appendText(append(buf[:0], prefix...)))
	name := en.reason[len(prefix):]
	en.reasonL4 = en.reason
	for i := range en.ports {
		if l7 := en.ports[i].l7; l7 != nil {
			en.reasonL4 = "allowed at L4 by " + name + "; its " + l7.kind() +
				" rules were not checked (the flow carries no " + l7.kind() + " data)"
			en.reasonL7 = "default deny: the proxy would reject this request; no " + l7.kind() + " rule of " + name + " matches it"
			break
		}
	}
	for i := range en.ports {
		if en.ports[i].named != "" {
			en.hasNamed = true
			en.reasonNamed = "default deny: " + name + " allows named port " + en.ports[i].named +
				", which cannot be resolved from flow records; treated as no match"
			break
		}
	}
	if len(en.unresolved) > 0 {
		en.reasonUnresolved = "default deny: " + name + " allows " + strings.Join(en.unresolved, ", ") +
			" on this port, which posture cannot resolve from flow records (treated as selecting nothing)"
	}
	if len(en.fqdnSels) > 0 {
		en.reasonNoNames = "default deny: the flow names no DNS name for this address, so the toFQDNs of " + name +
			" cannot match it (Cilium only allows addresses it saw in DNS answers)"
	}
	e.entries = append(e.entries, en)
}
