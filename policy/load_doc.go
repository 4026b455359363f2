package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Fragment kinds (Origin.Fragment).
const (
	FragmentSpec     = "spec"      // a document with spec but no apiVersion/kind
	FragmentRule     = "rule"      // a bare rule with a selector (`cilium policy get`)
	FragmentSections = "sections"  // ingress/egress/... lists without a selector
	FragmentPeerRule = "peer-rule" // one ingress or egress rule (fromEndpoints, toPorts, ...)
)

// loader turns the documents of one file into policies.
type loader struct {
	name   string
	opts   LoadOptions
	res    *LoadResult
	budget int
	doc    int // index of the document being read
}

var bom = []byte("\xef\xbb\xbf")

func loadBytes(name string, data []byte, opts LoadOptions) *LoadResult {
	res := &LoadResult{Files: []string{name}}
	if e := checkText(name, data); e != nil {
		res.Errors = append(res.Errors, e)
		return res
	}
	data = bytes.TrimPrefix(data, bom)
	// Every node visit costs one unit; aliases are expanded, so the budget
	// bounds the work any input can cause to a small multiple of its size.
	l := &loader{name: name, opts: opts, res: res, budget: 16*len(data) + 100_000}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := decodeSafely(dec, &doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.Errors = append(res.Errors, syntaxError(name, err))
			break
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // empty or comment-only document
		}
		l.doc = i
		l.document(doc.Content[0], i)
		if l.budget <= 0 {
			break
		}
	}
	return res
}

// decodeSafely turns a panic inside the YAML parser into an error: bad
// input must never crash the caller.
func decodeSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: malformed input (%v)", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func syntaxError(name string, err error) *Error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			line = n
		}
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e := &Error{File: name, Line: line, Code: CodeSyntax, Msg: "malformed YAML/JSON: " + msg}
	if strings.Contains(msg, "found character that cannot start any token") || strings.Contains(msg, "tab") {
		e.Hint = "YAML indentation must use spaces, not tabs"
	}
	return e
}

func (l *loader) errorAt(n *yaml.Node, path, code, hint, format string, args ...any) {
	e := &Error{File: l.name, Line: 1, Doc: l.doc, Path: path, Code: code, Hint: hint, Msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	l.res.Errors = append(l.res.Errors, e)
}

// scalarField returns the string value of a top-level key and its node.
func scalarField(m *yaml.Node, key string) (string, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			v := resolve(m.Content[i+1])
			if v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
				return v.Value, v
			}
			return "", v
		}
	}
	return "", nil
}

func (l *loader) document(c *yaml.Node, doc int) {
	c = resolve(c)
	switch c.Kind {
	case yaml.MappingNode:
		l.object(c, doc, -1)
	case yaml.SequenceNode:
		// `cilium policy get` prints a JSON array of rules.
		if !l.opts.Fragments {
			l.skip(c, doc, "", "", "a list of rules, not a Kubernetes object (posture lint checks it as a fragment)")
			return
		}
		for i, item := range c.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				l.errorAt(item, index("", i), CodeDocument, "", "expected a rule object, got %s", describe(item))
				continue
			}
			l.fragment(item, doc, i)
		}
	default:
		l.errorAt(c, "", CodeDocument, "a policy file holds Kubernetes objects (apiVersion, kind, metadata, spec)",
			"document is not a mapping (got %s)", describe(c))
	}
}

func (l *loader) skip(c *yaml.Node, doc int, apiVersion, kind, reason string) {
	l.res.Skipped = append(l.res.Skipped, Skipped{File: l.name, Line: c.Line, Doc: doc, APIVersion: apiVersion, Kind: kind, Reason: reason})
}

// object handles one mapping document or List item.
func (l *loader) object(c *yaml.Node, doc, item int) {
	apiVersion, avNode := scalarField(c, "apiVersion")
	kind, kindNode := scalarField(c, "kind")
	prefix := ""
	if item >= 0 {
		prefix = index("items", item) + "."
	}
	if avNode != nil && avNode.Kind != yaml.ScalarNode || kindNode != nil && kindNode.Kind != yaml.ScalarNode {
		n := avNode
		if n == nil || n.Kind == yaml.ScalarNode {
			n = kindNode
		}
		l.errorAt(n, prefix+"apiVersion", CodeWrongType, "", "apiVersion and kind must be strings")
		return
	}
	switch {
	case kind == KindCNP || kind == KindCCNP:
		if apiVersion != APIVersion {
			n := avNode
			if n == nil {
				n = c
			}
			what := fmt.Sprintf("apiVersion %q is not served for %s", apiVersion, kind)
			if apiVersion == "" {
				what = "apiVersion is missing"
			}
			l.errorAt(n, prefix+"apiVersion", CodeDocument, `use apiVersion: cilium.io/v2`, "%s", what)
			if !l.opts.Lenient {
				return
			}
		}
		l.policy(c, doc, "", reflect.TypeFor[Policy](), "", "", nil)
	case item < 0 && strings.HasSuffix(kind, "List"):
		l.list(c, doc, apiVersion, kind)
	case kind == "" && apiVersion == "":
		if item >= 0 {
			l.errorAt(c, prefix+"kind", CodeDocument, "", "list item has no apiVersion and kind")
			return
		}
		l.fragment(c, doc, -1)
	case kind == "":
		l.errorAt(c, prefix+"kind", CodeDocument, "", "kind is missing (apiVersion is %q)", apiVersion)
	default:
		l.skip(c, doc, apiVersion, kind, "not a Cilium network policy")
	}
}

func (l *loader) list(c *yaml.Node, doc int, apiVersion, kind string) {
	for i := 0; i+1 < len(c.Content); i += 2 {
		k := resolve(c.Content[i])
		if k == nil || k.Value != "items" {
			continue
		}
		items := resolve(c.Content[i+1])
		if isNull(items) {
			return
		}
		if items.Kind != yaml.SequenceNode {
			l.errorAt(items, "items", CodeWrongType, "", "expected a list, got %s", describe(items))
			return
		}
		for j, it := range items.Content {
			it = resolve(it)
			if it.Kind != yaml.MappingNode {
				l.errorAt(it, index("items", j), CodeWrongType, "", "expected an object, got %s", describe(it))
				continue
			}
			l.object(it, doc, j)
		}
		return
	}
	l.skip(c, doc, apiVersion, kind, "empty list")
}

// keysOf lists the scalar keys of a mapping.
func keysOf(m *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k != nil && k.Kind == yaml.ScalarNode {
			out = append(out, k.Value)
		}
	}
	return out
}

// fragment recognises a snippet by its top-level keys and wraps it into a
// synthetic policy. sub is the element index for arrays of rules, else -1.
func (l *loader) fragment(c *yaml.Node, doc, sub int) {
	w := &walker{fields: map[reflect.Type]map[string]reflect.Type{}}
	keys := keysOf(c)
	count := func(t reflect.Type) int {
		f := w.fieldsOf(t)
		n := 0
		for _, k := range keys {
			if _, ok := f[k]; ok {
				n++
			}
		}
		return n
	}
	has := func(names ...string) bool {
		for _, k := range keys {
			for _, n := range names {
				if k == n {
					return true
				}
			}
		}
		return false
	}
	var (
		kind  string
		t     reflect.Type
		at    string
		strip string
	)
	nIn, nEg := count(reflect.TypeFor[IngressRule]()), count(reflect.TypeFor[EgressRule]())
	switch {
	case has("spec", "specs"):
		kind, t, at, strip = FragmentSpec, reflect.TypeFor[Policy](), "", ""
	case has("endpointSelector", "nodeSelector"):
		kind, t, at, strip = FragmentRule, reflect.TypeFor[Rule](), "spec", "spec."
	case count(reflect.TypeFor[Rule]()) > 0:
		kind, t, at, strip = FragmentSections, reflect.TypeFor[Rule](), "spec", "spec."
	case nIn > 0 && nIn >= nEg:
		kind, t, at, strip = FragmentPeerRule, reflect.TypeFor[IngressRule](), "spec.ingress[0]", "spec.ingress[0]."
	case nEg > 0:
		kind, t, at, strip = FragmentPeerRule, reflect.TypeFor[EgressRule](), "spec.egress[0]", "spec.egress[0]."
	default:
		l.errorAt(c, "", CodeDocument, "a policy object needs apiVersion: cilium.io/v2 and kind: CiliumNetworkPolicy",
			"not a Kubernetes object: apiVersion and kind are missing")
		return
	}
	if !l.opts.Fragments {
		l.skip(c, doc, "", "", "a fragment of a policy ("+kind+"), not a whole object; posture lint checks it")
		return
	}
	l.policy(c, doc, at, t, strip, kind, func(v map[string]any) map[string]any {
		switch at {
		case "spec":
			v = map[string]any{"spec": v}
		case "spec.ingress[0]":
			v = map[string]any{"spec": map[string]any{"ingress": []any{v}}}
		case "spec.egress[0]":
			v = map[string]any{"spec": map[string]any{"egress": []any{v}}}
		}
		spec, _ := v["spec"].(map[string]any)
		if spec != nil && spec["endpointSelector"] == nil && spec["nodeSelector"] == nil {
			spec["endpointSelector"] = map[string]any{}
		}
		if v["apiVersion"] == nil {
			v["apiVersion"] = APIVersion
		}
		if v["kind"] == nil {
			v["kind"] = KindCNP
			if spec != nil && spec["nodeSelector"] != nil {
				v["kind"] = KindCCNP
			}
		}
		md, _ := v["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			v["metadata"] = md
		}
		if md["name"] == nil {
			md["name"] = syntheticName(l.name, doc, sub)
		}
		return v
	})
}

// policy walks one object (or fragment, wrapped by wrap) and decodes it.
func (l *loader) policy(c *yaml.Node, doc int, at string, t reflect.Type, strip, fragment string, wrap func(map[string]any) map[string]any) {
	w := newWalker(l.name, l.budget)
	w.doc = doc
	w.pos.strip = strip
	w.mark(at, c)
	v := w.value(c, t, at)
	l.budget = w.budget
	l.res.Errors = append(l.res.Errors, w.errs...)
	m, _ := v.(map[string]any)
	if m == nil {
		return
	}
	if wrap != nil {
		m = wrap(m)
	}
	p := &Policy{}
	raw, err := json.Marshal(m)
	if err == nil {
		err = json.Unmarshal(raw, p)
	}
	if err != nil {
		l.errorAt(c, "", CodeInvalidValue, "", "cannot decode the document: %v", err)
		return
	}
	p.Origin = Origin{File: l.name, Line: c.Line, Doc: doc, Fragment: fragment, pos: w.pos}
	l.res.Policies = append(l.res.Policies, p)
}

func syntheticName(file string, doc, sub int) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-.")
	if name == "" {
		name = "fragment"
	}
	if doc > 0 {
		name += "-" + strconv.Itoa(doc)
	}
	if sub >= 0 {
		name += "-" + strconv.Itoa(sub)
	}
	return name
}
