package policy

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// subjectPolicy is the policy of one endpoint identity.
type subjectPolicy struct {
	ingress, egress dirPolicy
}

// dirPolicy is the policy of one endpoint in one direction.
type dirPolicy struct {
	selected    bool
	defaultDeny bool
	deny, allow []*entry
	// Requirements (from/toRequires) of all rules selecting the
	// endpoint, applied to every from/toEndpoints peer, as Cilium does.
	allowReqs, denyReqs []int32
	reasonDefault       string
	// byPort and other index allow by port (see index).
	byPort []portPos
	other  []int32
}

// subjectPolicy builds (once) the policy of an endpoint identity from the
// entries whose subject selector matches it.
func (e *Engine) subjectPolicy(id *identity) *subjectPolicy {
	id.once.Do(func() {
		if !id.init && !e.selectsAny(id) {
			// Most identities an evaluator meets are peers no rule
			// selects: they share one empty policy.
			id.pol = &noSubjectPolicy
			return
		}
		p := &subjectPolicy{}
		var inBy, egBy []string
		for w, word := range id.bits {
			for ; word != 0; word &= word - 1 {
				subj := w*64 + bits.TrailingZeros64(word)
				p.add(e.bySubject[subj], &inBy, &egBy)
			}
		}
		if id.init {
			// Cilium always enforces default deny on initialising endpoints.
			for _, dp := range []*dirPolicy{&p.ingress, &p.egress} {
				dp.selected, dp.defaultDeny = true, true
			}
			inBy, egBy = append(inBy, "reserved:init"), append(egBy, "reserved:init")
		}
		for _, d := range []struct {
			dp *dirPolicy
			by []string
		}{{&p.ingress, inBy}, {&p.egress, egBy}} {
			sortEntries(d.dp.deny)
			sortEntries(d.dp.allow)
			d.dp.index()
			slices.Sort(d.dp.allowReqs)
			d.dp.allowReqs = slices.Compact(d.dp.allowReqs)
			slices.Sort(d.dp.denyReqs)
			d.dp.denyReqs = slices.Compact(d.dp.denyReqs)
			d.dp.reasonDefault = defaultDenyReason(d.by)
		}
		id.pol = p
	})
	return id.pol
}

// noSubjectPolicy is the policy of an identity no rule selects, as the
// general path would build it. Read-only.
var noSubjectPolicy = subjectPolicy{
	ingress: dirPolicy{reasonDefault: defaultDenyReason(nil)},
	egress:  dirPolicy{reasonDefault: defaultDenyReason(nil)},
}

// selectsAny reports whether any rule has id as its subject.
func (e *Engine) selectsAny(id *identity) bool {
	for w, word := range id.bits {
		for ; word != 0; word &= word - 1 {
			if len(e.bySubject[w*64+bits.TrailingZeros64(word)]) > 0 {
				return true
			}
		}
	}
	return false
}

// add files a subject's entries under their direction.
func (p *subjectPolicy) add(ens []*entry, inBy, egBy *[]string) {
	for _, en := range ens {
		dp, by := &p.egress, egBy
		if en.ingress {
			dp, by = &p.ingress, inBy
		}
		dp.selected = true
		if en.defaultDeny {
			dp.defaultDeny = true
			// A policy's rules come together: name it once per run.
			if n := len(*by); n == 0 || !isPolicyName((*by)[n-1], en.ref) {
				*by = append(*by, en.ref.Namespace+"/"+en.ref.Policy)
			}
		}
		if en.deny {
			dp.deny = append(dp.deny, en)
			dp.denyReqs = append(dp.denyReqs, en.reqSels...)
		} else {
			dp.allow = append(dp.allow, en)
			dp.allowReqs = append(dp.allowReqs, en.reqSels...)
		}
	}
}

// isPolicyName reports whether s is "namespace/policy" of r.
func isPolicyName(s string, r RuleRef) bool {
	return len(s) == len(r.Namespace)+1+len(r.Policy) && strings.HasPrefix(s, r.Namespace) &&
		s[len(r.Namespace)] == '/' && strings.HasSuffix(s, r.Policy)
}

// sortEntries orders rules by policy, rule set, section and index so that
// the rules reported are deterministic.
func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int {
		x, y := a.ref, b.ref
		switch {
		case x.Namespace != y.Namespace:
			return strings.Compare(x.Namespace, y.Namespace)
		case x.Policy != y.Policy:
			return strings.Compare(x.Policy, y.Policy)
		case x.Spec != y.Spec:
			return x.Spec - y.Spec
		case x.Section != y.Section:
			return strings.Compare(x.Section, y.Section)
		}
		return x.Index - y.Index
	})
}

func defaultDenyReason(by []string) string {
	slices.Sort(by)
	by = slices.Compact(by)
	for i, b := range by {
		by[i] = strings.TrimPrefix(b, "/")
	}
	if len(by) == 0 {
		return reasonDefaultDeny
	}
	const max = 3
	s := strings.Join(by[:min(len(by), max)], ", ")
	if len(by) > max {
		s += " and " + strconv.Itoa(len(by)-max) + " more"
	}
	return reasonDefaultDeny + " (default deny enabled by " + s + ")"
}
