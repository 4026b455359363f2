package policy

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

func listHint(n *yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		return "start the entry with \"- \" to make it a list element"
	}
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("write a list: [ %s ]", n.Value)
	}
	return ""
}

// yaml11Bool reports whether YAML 1.1 (kubectl's YAML reader) resolves
// the plain scalar s to a boolean.
func yaml11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF":
		return true
	}
	return false
}

// zeroJSON is the JSON value that decodes to the zero value of t, used as
// a placeholder for list elements that were wrong.
func zeroJSON(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawType:
		return map[string]any{}
	case t == intOrStrType:
		return int64(0)
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return map[string]any{}
	case reflect.Slice:
		return []any{}
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	}
	return int64(0)
}

// generic converts any node to its JSON-shaped value, for fields posture
// keeps verbatim (status, managedFields, toGroups).
func (w *walker) generic(n *yaml.Node, path string) any {
	n = resolve(n)
	if !w.spend(n, path) || n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for _, p := range w.pairs(n, path) {
			out[p.key] = w.generic(p.val, join(path, p.key))
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			out = append(out, w.generic(c, index(path, i)))
		}
		return out
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
			var u uint64
			if n.Decode(&u) == nil {
				return u
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f
			}
			w.errorAt(n, path, CodeInvalidValue, "", "number %s cannot be represented in JSON", clip(n.Value))
			return nil
		}
		return n.Value
	}
	return nil
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("string %q", clip(n.Value))
		case "!!int":
			return "integer " + clip(n.Value)
		case "!!float":
			return "number " + clip(n.Value)
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		case "!!timestamp":
			return "timestamp " + clip(n.Value)
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.ShortTag(), "!!"), clip(n.Value))
	}
	return "an unsupported node"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
