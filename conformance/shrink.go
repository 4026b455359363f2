package conformance

import (
	"encoding/json"
	"sort"

	"github.com/posture-dev/posture/policy"
)

// Shrink minimizes a disagreement: it deletes policies, rules, peers,
// ports, selector terms (any JSON node outside the object's identity)
// for as long as the two engines still disagree on the same flow and
// direction, so the reproducer shows only what matters.
func Shrink(u *Universe, d Disagreement) Disagreement {
	trees := make([]any, 0, len(d.Policies))
	for _, p := range d.Policies {
		trees = append(trees, toTree(p))
	}
	best := d
	for changed := true; changed; {
		changed = false
		for _, path := range removablePaths(trees) {
			cand := deleteAt(cloneTree(trees), path)
			ps, ok := fromTrees(cand)
			if !ok {
				continue
			}
			ds, err := Compare(u, ps, &d.Flow)
			if err != nil {
				continue // the deletion made the set invalid for Cilium
			}
			for _, nd := range ds {
				if nd.Direction == d.Direction {
					trees, best, changed = cand, nd, true
					break
				}
			}
			if changed {
				break
			}
		}
	}
	return best
}

func toTree(p *policy.Policy) any {
	b, _ := json.Marshal(p)
	var t any
	_ = json.Unmarshal(b, &t)
	return t
}

func cloneTree(t []any) []any {
	b, _ := json.Marshal(t)
	var out []any
	_ = json.Unmarshal(b, &out)
	return out
}

func fromTrees(trees []any) ([]*policy.Policy, bool) {
	var out []*policy.Policy
	for _, t := range trees {
		b, err := json.Marshal(t)
		if err != nil {
			return nil, false
		}
		var p policy.Policy
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, false
		}
		// Once more through posture's JSON form: deleting the last element
		// of a list leaves an empty list, which posture's writer omits
		// (so Cilium sees no list) while the decoded value keeps it.
		if b, err = json.Marshal(&p); err != nil {
			return nil, false
		}
		p = policy.Policy{}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, false
		}
		out = append(out, &p)
	}
	return out, len(out) > 0
}

// removablePaths lists deletable nodes, largest first (whole policies,
// then deeper nodes in document order), never the identity fields.
func removablePaths(trees []any) [][]any {
	var out [][]any
	for i := range trees {
		out = append(out, []any{i})
	}
	var walk func(path []any, n any)
	walk = func(path []any, n any) {
		switch v := n.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				c := v[k]
				if len(path) == 1 && (k == "apiVersion" || k == "kind" || k == "metadata") {
					continue
				}
				p := append(append([]any{}, path...), k)
				out = append(out, p)
				walk(p, c)
			}
		case []any:
			for i, c := range v {
				p := append(append([]any{}, path...), i)
				out = append(out, p)
				walk(p, c)
			}
		}
	}
	for i, t := range trees {
		walk([]any{i}, t)
	}
	return out
}

// deleteAt removes the node at path (a policy index first).
func deleteAt(trees []any, path []any) []any {
	if len(path) == 1 {
		i := path[0].(int)
		return append(trees[:i:i], trees[i+1:]...)
	}
	parent := any(trees)
	for _, step := range path[:len(path)-1] {
		switch s := step.(type) {
		case int:
			parent = parent.([]any)[s]
		case string:
			parent = parent.(map[string]any)[s]
		}
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		delete(p, last.(string))
	case []any:
		// Slices cannot shrink in place inside their parent: rebuild and
		// store back.
		i := last.(int)
		np := append(append([]any{}, p[:i]...), p[i+1:]...)
		setAt(trees, path[:len(path)-1], np)
	}
	return trees
}

func setAt(trees []any, path []any, v any) {
	parent := any(trees)
	for _, step := range path[:len(path)-1] {
		switch s := step.(type) {
		case int:
			parent = parent.([]any)[s]
		case string:
			parent = parent.(map[string]any)[s]
		}
	}
	switch p := parent.(type) {
	case map[string]any:
		p[path[len(path)-1].(string)] = v
	case []any:
		p[path[len(path)-1].(int)] = v
	}
}
