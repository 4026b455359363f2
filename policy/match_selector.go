package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// Label keys Cilium itself adds to selectors when it scopes a policy.
const (
	keyNamespace     = flow.LabelNamespace
	keyNamespaceMeta = flow.LabelNamespacePrefix
	keyCluster       = flow.LabelCluster
)

// selOp is a compiled label-selector operator.
type selOp uint8

const (
	opIn selOp = iota
	opNotIn
	opExists
	opDoesNotExist
)

// selReq is one requirement of a compiled selector. Source "any" matches a
// label of any source, as Cilium's selector keys without a source do.
type selReq struct {
	src    string
	key    string
	op     selOp
	values []string
}

// labelSel is a compiled Cilium endpoint selector: all requirements must
// hold. No requirements selects every identity (the wildcard).
type labelSel struct {
	reqs []selReq
}

// splitSourceKey splits "k8s:app" into ("k8s", "app"), exactly as Cilium
// does for selector keys: the text before the first ':' is the source,
// a leading '$' means reserved, and no prefix means "any".
func splitSourceKey(k string) (string, string) {
	if strings.HasPrefix(k, "$") {
		return flow.SourceReserved, k[1:]
	}
	if i := strings.IndexByte(k, ':'); i >= 0 {
		src := k[:i]
		if src == "" || src == flow.SourceUnspec {
			src = flow.SourceAny
		}
		return src, k[i+1:]
	}
	return flow.SourceAny, k
}

// newLabelSel compiles a policy selector (keys as written by the user).
func newLabelSel(es *EndpointSelector) (labelSel, error) {
	var s labelSel
	if es == nil {
		return s, nil
	}
	for k, v := range es.MatchLabels {
		src, key := splitSourceKey(k)
		s.reqs = append(s.reqs, selReq{src: src, key: key, op: opIn, values: []string{v}})
	}
	for i, e := range es.MatchExpressions {
		src, key := splitSourceKey(e.Key)
		r := selReq{src: src, key: key, values: slices.Clone(e.Values)}
		switch e.Operator {
		case OpIn:
			r.op = opIn
		case OpNotIn:
			r.op = opNotIn
		case OpExists:
			r.op = opExists
		case OpDoesNotExist:
			r.op = opDoesNotExist
		default:
			return s, fmt.Errorf("matchExpressions[%d]: unknown operator %q", i, e.Operator)
		}
		if (r.op == opIn || r.op == opNotIn) && len(r.values) == 0 {
			return s, fmt.Errorf("matchExpressions[%d]: operator %s needs values", i, e.Operator)
		}
		s.reqs = append(s.reqs, r)
	}
	s.normalize()
	return s, nil
}

func (s *labelSel) normalize() {
	for i := range s.reqs {
		slices.Sort(s.reqs[i].values)
	}
	slices.SortFunc(s.reqs, func(a, b selReq) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		if c := strings.Compare(a.src, b.src); c != 0 {
			return c
		}
		if a.op != b.op {
			return int(a.op) - int(b.op)
		}
		return slices.Compare(a.values, b.values)
	})
	s.reqs = slices.CompactFunc(s.reqs, func(a, b selReq) bool {
		return a.src == b.src && a.key == b.key && a.op == b.op && slices.Equal(a.values, b.values)
	})
}

// hasKey reports whether the selector names key with source src exactly
// (Cilium's EndpointSelector.HasKey on "src:key").
func (s *labelSel) hasKey(src, key string) bool {
	for _, r := range s.reqs {
		if r.src == src && r.key == key {
			return true
		}
	}
	return false
}

// hasKeyPrefix is Cilium's HasKeyPrefix on "src:prefix".
func (s *labelSel) hasKeyPrefix(src, prefix string) bool {
	for _, r := range s.reqs {
		if r.src == src && strings.HasPrefix(r.key, prefix) {
			return true
		}
	}
	return false
}

// hasSource reports whether any key has the given source.
func (s *labelSel) hasSource(src string) bool {
	for _, r := range s.reqs {
		if r.src == src {
			return true
		}
	}
	return false
}

// setMatch replaces any requirement on src:key with key=value, as
// Cilium's AddMatch does on the matchLabels map.
func (s *labelSel) setMatch(src, key, value string) {
	s.reqs = slices.DeleteFunc(s.reqs, func(r selReq) bool {
		return r.src == src && r.key == key && r.op == opIn && len(r.values) == 1
	})
	s.reqs = append(s.reqs, selReq{src: src, key: key, op: opIn, values: []string{value}})
	s.normalize()
}

func (s *labelSel) add(r selReq) {
	s.reqs = append(s.reqs, r)
	s.normalize()
}

// key is a canonical form used to deduplicate selectors.
func (s *labelSel) key() string {
	var b strings.Builder
	for i, r := range s.reqs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.src)
		b.WriteByte(':')
		b.WriteString(r.key)
		switch r.op {
		case opIn:
			b.WriteString(" in ")
		case opNotIn:
			b.WriteString(" notin ")
		case opExists:
			b.WriteString(" exists")
		case opDoesNotExist:
			b.WriteString(" !exists")
		}
		if r.op == opIn || r.op == opNotIn {
			b.WriteString("(" + strings.Join(r.values, "|") + ")")
		}
	}
	return b.String()
}

// lookup finds the label a requirement refers to, as Cilium's
// LabelArray.LookupLabel does: the first label with the key, and with the
// same source unless the requirement's source is "any".
func lookup(ls flow.Labels, src, key string) (string, bool) {
	for i := range ls {
		l := &ls[i]
		if l.Key == key && (src == flow.SourceAny || l.Source == src) {
			return l.Value, true
		}
	}
	return "", false
}

func (r *selReq) matches(ls flow.Labels) bool {
	v, ok := lookup(ls, r.src, r.key)
	switch r.op {
	case opIn:
		return ok && slices.Contains(r.values, v)
	case opNotIn:
		return !ok || !slices.Contains(r.values, v)
	case opExists:
		return ok
	case opDoesNotExist:
		return !ok
	}
	return false
}

func (s *labelSel) matches(ls flow.Labels) bool {
	for i := range s.reqs {
		if !s.reqs[i].matches(ls) {
			return false
		}
	}
	return true
}

// anchor picks a requirement every matching identity must carry as an
// exact key=value label, to index the selector by; pod labels other than
// the namespace are more selective, so they are preferred.
func (s *labelSel) anchor() (key, value string, ok bool) {
	for _, r := range s.reqs {
		if r.op != opIn || len(r.values) != 1 {
			continue
		}
		key, value, ok = r.key, r.values[0], true
		if r.key != keyNamespace {
			return
		}
	}
	return
}

// String renders the selector for explanations.
func (s *labelSel) String() string {
	if len(s.reqs) == 0 {
		return "{}"
	}
	return "{" + s.key() + "}"
}
