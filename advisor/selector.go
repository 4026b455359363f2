package advisor

import (
	"cmp"
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// selector is a label selector over the classes of one namespace:
// matchLabels plus keys that must be absent.
type selector struct {
	match  []flow.Label // sorted by key
	absent []string     // sorted
}

func (s selector) matches(c *class) bool {
	for _, l := range s.match {
		if v, ok := c.get(l.Key); !ok || v != l.Value {
			return false
		}
	}
	for _, k := range s.absent {
		if _, ok := c.get(k); ok {
			return false
		}
	}
	return true
}

// String is a short human form: "app=web,!tier".
func (s selector) String() string {
	parts := make([]string, 0, len(s.match)+len(s.absent))
	for _, l := range s.match {
		parts = append(parts, l.Key+"="+l.Value)
	}
	for _, k := range s.absent {
		parts = append(parts, "!"+k)
	}
	if len(parts) == 0 {
		return "{}"
	}
	return strings.Join(parts, ",")
}

// endpointSelector renders the selector; namespace adds the namespace label
// for peers in another namespace.
func (s selector) endpointSelector(namespace string) policy.EndpointSelector {
	var es policy.EndpointSelector
	if len(s.match) > 0 || namespace != "" {
		es.MatchLabels = map[string]string{}
	}
	for _, l := range s.match {
		es.MatchLabels[l.Key] = l.Value
	}
	if namespace != "" {
		es.MatchLabels[flow.LabelNamespace] = namespace
	}
	for _, k := range s.absent {
		es.MatchExpressions = append(es.MatchExpressions, policy.LabelSelectorReq{Key: k, Operator: policy.OpDoesNotExist})
	}
	return es
}

type selResult struct {
	sel  selector
	over []*class
	// matched are every class of the namespace the selector matches.
	matched []*class
	// local and remote are the rendered selector for a peer in the same
	// namespace and for one in another (with the namespace label). Every
	// rule naming this peer shares them: documents are read-only.
	local, remote policy.EndpointSelector
	text          string // sel.String()
	// For rules naming only this selector (single-class results): the
	// one-element selector lists (clipped: appending copies), the peer
	// text from another namespace, and the numbers of the matched classes.
	localOne, remoteOne []policy.EndpointSelector
	remoteText          string
	matchedNums         []uint32
}

// exactSelector finds a small selector matching every target class and, if
// possible, no other class of the namespace. Keys are tried in preference
// order; keys absent from all targets but present on others become
// DoesNotExist requirements when labels alone cannot tell them apart. What
// still matches (over) is reported, never hidden.
func (n *nsIndex) exactSelector(targets []*class) *selResult {
	if len(targets) == 1 {
		return n.classSelector(targets[0])
	}
	keys := make([]string, len(targets))
	for i, c := range targets {
		keys[i] = c.key
	}
	slices.Sort(keys)
	ck := strings.Join(keys, "\x00")
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.selCache[ck]; ok {
		return r
	}
	r := n.computeSelector(targets)
	r.matched = filterMatching(n.classes, r.sel)
	r.local, r.remote, r.text = r.sel.endpointSelector(""), r.sel.endpointSelector(n.name), r.sel.String()
	n.selCache[ck] = &r
	return &r
}

// classSelector is exactSelector for one class, the common case, cached
// on the class itself and shared (read-only) by every rule naming it.
func (n *nsIndex) classSelector(c *class) *selResult {
	if r := c.sel.Load(); r != nil {
		return r
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.sel.Load() == nil {
		r := n.computeSelector([]*class{c})
		r.matched = filterMatching(n.classes, r.sel)
		r.local, r.remote, r.text = r.sel.endpointSelector(""), r.sel.endpointSelector(n.name), r.sel.String()
		r.localOne = []policy.EndpointSelector{r.local}
		r.remoteOne = []policy.EndpointSelector{r.remote}
		r.remoteText = n.name + ":" + r.text
		r.matchedNums = make([]uint32, len(r.matched))
		for i, m := range r.matched {
			r.matchedNums[i] = m.num
		}
		c.sel.Store(&r)
	}
	return c.sel.Load()
}

func (n *nsIndex) computeSelector(targets []*class) selResult {
	isTarget := make(map[*class]bool, len(targets))
	for _, c := range targets {
		isTarget[c] = true
	}
	// Candidate labels: selectable, with the same value on every target.
	var cands []flow.Label
	for _, l := range targets[0].labels {
		if !selectable(l) {
			continue
		}
		common := true
		for _, c := range targets[1:] {
			if v, ok := c.get(l.Key); !ok || v != l.Value {
				common = false
				break
			}
		}
		if common {
			cands = append(cands, l)
		}
	}
	slices.SortStableFunc(cands, func(a, b flow.Label) int {
		return cmp.Or(cmp.Compare(keyRank(a.Key), keyRank(b.Key)), strings.Compare(a.Key, b.Key))
	})
	var others []*class
	for _, c := range n.classes {
		if !isTarget[c] {
			others = append(others, c)
		}
	}
	var sel selector
	chosen := map[string]bool{}
	remaining := others
	// Greedy: the label excluding most remaining classes, ties by rank.
	for len(remaining) > 0 {
		best, bestN := -1, 0
		for i, l := range cands {
			if chosen[l.Key] {
				continue
			}
			x := 0
			for _, c := range remaining {
				if v, ok := c.get(l.Key); !ok || v != l.Value {
					x++
				}
			}
			if x > bestN {
				best, bestN = i, x
			}
		}
		if best < 0 {
			break
		}
		chosen[cands[best].Key] = true
		sel.match = append(sel.match, cands[best])
		remaining = filterMatching(remaining, sel)
	}
	// Keys no target has but some remaining class has.
	for len(remaining) > 0 {
		counts := map[string]int{}
		for _, c := range remaining {
			for _, l := range c.labels {
				if selectable(l) && !anyHas(targets, l.Key) {
					counts[l.Key]++
				}
			}
		}
		if len(counts) == 0 {
			break
		}
		best := ""
		for k, x := range counts {
			if best == "" || x > counts[best] || x == counts[best] && k < best {
				best = k
			}
		}
		sel.absent = append(sel.absent, best)
		remaining = filterMatching(remaining, sel)
	}
	// Nothing to exclude: still name the workload by its best label, so
	// the selector does not silently cover every future pod.
	if len(sel.match) == 0 && len(cands) > 0 {
		sel.match = append(sel.match, cands[0])
	}
	// Drop labels that turned out unnecessary, least preferred first.
	for i := len(sel.match) - 1; i >= 0 && len(sel.match) > 1; i-- {
		trial := selector{match: slices.Delete(slices.Clone(sel.match), i, i+1), absent: sel.absent}
		if len(filterMatching(others, trial)) <= len(remaining) {
			sel = trial
		}
	}
	slices.SortFunc(sel.match, func(a, b flow.Label) int { return strings.Compare(a.Key, b.Key) })
	slices.Sort(sel.absent)
	return selResult{sel: sel, over: remaining}
}

func anyHas(cs []*class, key string) bool {
	for _, c := range cs {
		if _, ok := c.get(key); ok {
			return true
		}
	}
	return false
}

func filterMatching(cs []*class, s selector) []*class {
	var out []*class
	for _, c := range cs {
		if s.matches(c) {
			out = append(out, c)
		}
	}
	return out
}

// peerSelectors returns selectors matching exactly the given classes of
// one namespace: one per workload, falling back to one per class where a
// workload's selector would also match unobserved classes.
func (n *nsIndex) peerSelectors(cs []*class) []*selResult {
	if len(cs) == 1 {
		return []*selResult{n.exactSelector(cs)}
	}
	byWl := map[*workload][]*class{}
	var order []*workload
	for _, c := range cs {
		if byWl[c.wl] == nil {
			order = append(order, c.wl)
		}
		byWl[c.wl] = append(byWl[c.wl], c)
	}
	var out []*selResult
	for _, wl := range order {
		group := byWl[wl]
		r := n.exactSelector(group)
		if len(r.over) == 0 || len(group) == 1 {
			out = append(out, r)
			continue
		}
		for _, c := range group {
			out = append(out, n.exactSelector([]*class{c}))
		}
	}
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b *selResult) int { return strings.Compare(a.text, b.text) })
		out = slices.CompactFunc(out, func(a, b *selResult) bool { return a.text == b.text })
	}
	return out
}
