package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pos is a source position.
type pos struct{ line, col int }

// positions remembers where each field path of one policy sits in its file.
type positions struct {
	at map[string]pos
	// strip is the synthetic path prefix of a fragment (for example
	// "spec." when a bare rule was wrapped into a policy); it is removed
	// when a path is shown to the user, who never wrote it.
	strip string
}

// walker checks a yaml.Node tree against a Go type, field by field, using
// the same json tags encoding/json uses, and builds the JSON-shaped value
// (maps, slices, strings, numbers, bools) of everything that checked out.
// Decoding that value with encoding/json then cannot fail, and every
// mistake has already been reported with its line and field path.
type walker struct {
	file   string
	doc    int
	pos    *positions
	errs   ErrorList
	budget int // node visits left; bounds alias expansion ("billion laughs")
	fields map[reflect.Type]map[string]reflect.Type
	hints  func(t reflect.Type, key string) string
}

var (
	rawType      = reflect.TypeFor[json.RawMessage]()
	intOrStrType = reflect.TypeFor[IntOrStr]()
)

func newWalker(file string, budget int) *walker {
	return &walker{
		file:   file,
		pos:    &positions{at: map[string]pos{}},
		budget: budget,
		fields: map[reflect.Type]map[string]reflect.Type{},
		hints:  unknownFieldHint,
	}
}

func (w *walker) display(path string) string {
	if w.pos.strip != "" {
		if p, ok := strings.CutPrefix(path, w.pos.strip); ok {
			return p
		}
		if path+"." == w.pos.strip {
			return ""
		}
	}
	return path
}

func (w *walker) errorAt(n *yaml.Node, path, code, hint, format string, args ...any) {
	e := &Error{File: w.file, Doc: w.doc, Path: w.display(path), Code: code, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	if e.Line == 0 {
		e.Line = 1
	}
	w.errs = append(w.errs, e)
}

func (w *walker) mark(path string, n *yaml.Node) {
	if _, ok := w.pos.at[path]; !ok && n != nil {
		w.pos.at[path] = pos{n.Line, n.Column}
	}
}

// spend takes one node visit from the budget and reports exhaustion once.
func (w *walker) spend(n *yaml.Node, path string) bool {
	w.budget--
	if w.budget == 0 {
		w.errorAt(n, path, CodeFile, "", "document too large or too deeply aliased")
	}
	return w.budget > 0
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// maxKeyLen bounds the JSON-encoded length of a mapping key.
const maxKeyLen = 1000

// pair is one key/value of a mapping after merge keys were expanded.
type pair struct {
	key    string
	keyN   *yaml.Node
	val    *yaml.Node
	merged bool
}

// pairs lists a mapping's entries, reporting duplicate keys and expanding
// YAML merge keys ("<<: *base") the way kubectl's YAML reader does: explicit
// keys win over merged ones.
func (w *walker) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			w.errorAt(n.Content[i], path, CodeWrongType, "", "mapping key must be a string, got %s", describeOr(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, resolve(v))
			continue
		}
		if enc, _ := json.Marshal(k.Value); len(enc) > maxKeyLen {
			// YAML caps implicit keys at 1024 characters; longer keys
			// would load here but not survive Marshal.
			w.errorAt(k, path, CodeInvalidValue, "", "mapping key is longer than %d characters", maxKeyLen)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			w.errorAt(k, join(path, k.Value), CodeDuplicateKey, "remove one of them; YAML readers silently keep only the last",
				"duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{key: k.Value, keyN: k, val: v})
	}
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if m != nil && m.Kind == yaml.SequenceNode {
			srcs = nil
			for _, c := range m.Content {
				srcs = append(srcs, resolve(c))
			}
		}
		for _, src := range srcs {
			if src == nil || src.Kind != yaml.MappingNode {
				w.errorAt(m, path, CodeWrongType, "", "merge key needs a mapping or a list of mappings")
				continue
			}
			if !w.spend(src, path) {
				return out
			}
			for _, p := range w.pairs(src, path) {
				if _, ok := seen[p.key]; ok {
					continue
				}
				seen[p.key] = p.keyN
				p.merged = true
				out = append(out, p)
			}
		}
	}
	return out
}

func describeOr(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	return describe(n)
}

// join appends a mapping key to a path, quoting keys that would make the
// path ambiguous (label keys such as "kubernetes.io/metadata.name").
func join(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// fieldsOf returns the JSON field names of a struct type, with inline
// (anonymous, unnamed) embedded structs flattened as encoding/json does.
func (w *walker) fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := w.fields[t]; ok {
		return f
	}
	out := map[string]reflect.Type{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				add(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			out[name] = f.Type
		}
	}
	add(t)
	w.fields[t] = out
	return out
}

// value checks n against t and returns its JSON-shaped value. A value
// that is wrong is reported and replaced by nil, so that one mistake does
// not hide the next; lists keep a zero element in its place so that field
// paths of later elements still match their lines.
func (w *walker) value(n *yaml.Node, t reflect.Type, path string) any {
	n = resolve(n)
	if !w.spend(n, path) {
		return nil
	}
	if isNull(n) {
		return nil
	}
	switch {
	case t == rawType:
		return w.generic(n, path)
	case t == intOrStrType:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			return n.Value
		}
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
			return w.integer(n, path, 32)
		}
		w.errorAt(n, path, CodeWrongType, "", "expected an integer or a string, got %s", describe(n))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(n, t.Elem(), path)
	case reflect.Struct:
		return w.object(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.errorAt(n, path, CodeWrongType, listHint(n), "expected a list, got %s", describe(n))
			return nil
		}
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			p := index(path, i)
			w.mark(p, c)
			if isNull(resolve(c)) {
				w.errorAt(c, p, CodeWrongType, "remove the empty \"-\" entry or give it a value", "list element is empty (null)")
				out = append(out, zeroJSON(t.Elem()))
				continue
			}
			v := w.value(c, t.Elem(), p)
			if v == nil {
				v = zeroJSON(t.Elem())
			}
			out = append(out, v)
		}
		return out
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.errorAt(n, path, CodeWrongType, "", "expected a mapping, got %s", describe(n))
			return nil
		}
		out := map[string]any{}
		for _, p := range w.pairs(n, path) {
			kp := join(path, p.key)
			w.mark(kp, p.keyN)
			if v := w.value(p.val, t.Elem(), kp); v != nil {
				out[p.key] = v
			} else if isNull(resolve(p.val)) && t.Elem().Kind() == reflect.String {
				// matchLabels {app: } is an empty value, not a missing key.
				out[p.key] = ""
			}
		}
		return out
	case reflect.String:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			if n.Style == 0 && yaml11Bool(n.Value) {
				// kubectl reads YAML 1.1, where this plain word is a
				// boolean, and the API server then rejects it.
				w.errorAt(n, path, CodeWrongType, fmt.Sprintf("quote the value: %q", n.Value),
					"expected a string, got %s, which kubectl reads as a boolean", n.Value)
				return n.Value
			}
			return n.Value
		}
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("quote the value: %q", n.Value)
		}
		w.errorAt(n, path, CodeWrongType, hint, "expected a string, got %s", describe(n))
		return nil
	case reflect.Bool:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
			var b bool
			if err := n.Decode(&b); err == nil {
				return b
			}
		}
		w.errorAt(n, path, CodeWrongType, "use true or false", "expected a boolean, got %s", describe(n))
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
			return w.integer(n, path, t.Bits())
		}
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			if _, err := strconv.Atoi(n.Value); err == nil {
				hint = "remove the quotes: " + n.Value
			}
		}
		w.errorAt(n, path, CodeWrongType, hint, "expected an integer, got %s", describe(n))
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
			var u uint64
			if err := n.Decode(&u); err == nil && (t.Bits() == 64 || u < 1<<t.Bits()) {
				return u
			}
			w.errorAt(n, path, CodeInvalidValue, "", "%s is out of range", clip(n.Value))
			return nil
		}
		w.errorAt(n, path, CodeWrongType, "", "expected a non-negative integer, got %s", describe(n))
		return nil
	}
	w.errorAt(n, path, CodeWrongType, "", "unsupported field type %s", t)
	return nil
}

func (w *walker) integer(n *yaml.Node, path string, bits int) any {
	var i int64
	if err := n.Decode(&i); err != nil || bits < 64 && (i < -(1<<(bits-1)) || i >= 1<<(bits-1)) {
		w.errorAt(n, path, CodeInvalidValue, "", "integer %s is out of range", clip(n.Value))
		return nil
	}
	return i
}

func (w *walker) object(n *yaml.Node, t reflect.Type, path string) any {
	if n.Kind != yaml.MappingNode {
		hint := ""
		if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
			hint = "remove the leading \"- \": this field is a single object, not a list"
		}
		w.errorAt(n, path, CodeWrongType, hint, "expected a mapping, got %s", describe(n))
		return nil
	}
	fields := w.fieldsOf(t)
	out := map[string]any{}
	for _, p := range w.pairs(n, path) {
		kp := join(path, p.key)
		ft, ok := fields[p.key]
		if !ok {
			if p.merged {
				continue
			}
			w.errorAt(p.keyN, kp, CodeUnknownField, w.hints(t, p.key), "unknown field %q", p.key)
			continue
		}
		w.mark(kp, p.keyN)
		if v := w.value(p.val, ft, kp); v != nil {
			out[p.key] = v
		}
	}
	return out
}
