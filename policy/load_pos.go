package policy

import "strings"

// Position returns the line and column of the field at path (for example
// "spec.ingress[0].toPorts[0].ports[0].port") in the file the policy was
// loaded from. Paths that were not written (defaults, missing fields) fall
// back to their nearest written parent, and finally to the document start.
func (o Origin) Position(path string) (line, col int) {
	if o.pos != nil {
		for p := path; ; {
			if at, ok := o.pos.at[p]; ok {
				return at.line, at.col
			}
			if p == "" {
				break
			}
			p = parentPath(p)
		}
	}
	return o.Line, 0
}

// DisplayPath returns path as the user wrote it: fragments were wrapped
// into synthetic policies, and the wrapping is not shown.
func (o Origin) DisplayPath(path string) string {
	if o.pos == nil || o.pos.strip == "" {
		return path
	}
	if p, ok := strings.CutPrefix(path, o.pos.strip); ok {
		return p
	}
	if path+"." == o.pos.strip {
		return ""
	}
	return path
}

// parentPath drops the last segment: "a.b[2]" -> "a.b", "a.b" -> "a",
// `a["x.y"]` -> "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			// A quoted key may contain "[": find the bracket that opens it.
			if j := strings.LastIndex(p, `["`); j >= 0 && strings.HasSuffix(p, `"]`) {
				i = j
			}
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// rulePath is the field path of the i-th rule of p.Rules().
func rulePath(p *Policy, i int) string {
	if p.Spec != nil {
		if i == 0 {
			return "spec"
		}
		return index("specs", i-1)
	}
	return index("specs", i)
}
