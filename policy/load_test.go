package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadErr loads src strictly and returns the one-line-per-problem error.
func loadErr(t *testing.T, src string) string {
	t.Helper()
	_, err := LoadBytes("p.yaml", []byte(src))
	if err == nil {
		t.Fatalf("no error for:\n%s", src)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want ErrorList: %v", err, err)
	}
	for _, e := range list {
		if e.File != "p.yaml" || e.Line < 1 {
			t.Errorf("error without a location: %#v", e)
		}
	}
	return err.Error()
}

const cnpHead = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: p
  namespace: ns
spec:
  endpointSelector:
    matchLabels:
      app: api
`

func TestLoadErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // substrings of the error, in order
	}{
		{"unknown field", cnpHead + "  deny:\n  - toEndpoints: [{}]\n",
			[]string{`p.yaml:10:3: spec.deny: unknown field "deny"`}},
		{"unknown nested field with suggestion", cnpHead + "  ingress:\n  - fromEndpoint: [{}]\n",
			[]string{`p.yaml:11:5: spec.ingress[0].fromEndpoint: unknown field "fromEndpoint"`}},
		{"port as number", cnpHead + "  ingress:\n  - toPorts:\n    - ports:\n      - port: 8080\n",
			[]string{`p.yaml:13:15: spec.ingress[0].toPorts[0].ports[0].port: expected a string, got integer 8080`}},
		{"endPort as string", cnpHead + "  egress:\n  - toPorts:\n    - ports:\n      - port: \"80\"\n        endPort: \"90\"\n",
			[]string{`p.yaml:14:18: spec.egress[0].toPorts[0].ports[0].endPort: expected an integer, got string "90"`}},
		{"list where object", cnpHead + "  enableDefaultDeny:\n  - ingress: false\n",
			[]string{`p.yaml:11:3: spec.enableDefaultDeny: expected a mapping, got a list`}},
		{"object where list", cnpHead + "  ingress:\n    fromEntities: [world]\n",
			[]string{`p.yaml:11:5: spec.ingress: expected a list, got a mapping`}},
		{"YAML 1.1 boolean as label value", strings.Replace(cnpHead, "app: api", "enabled: yes", 1) + "  ingress: [{}]\n",
			[]string{`p.yaml:9:16: spec.endpointSelector.matchLabels.enabled: expected a string, got yes, which kubectl reads as a boolean`}},
		{"bool as string", cnpHead + "  enableDefaultDeny:\n    ingress: \"no\"\n  ingress: [{}]\n",
			[]string{`p.yaml:11:14: spec.enableDefaultDeny.ingress: expected a boolean, got string "no"`}},
		{"duplicate key", cnpHead + "  ingress: []\n  ingress: [{}]\n",
			[]string{`p.yaml:11:3: spec.ingress: duplicate key "ingress" (first at line 10)`}},
		{"duplicate label key", strings.Replace(cnpHead, "      app: api\n", "      app: api\n      app: web\n", 1) + "  ingress: [{}]\n",
			[]string{`p.yaml:10:7: spec.endpointSelector.matchLabels.app: duplicate key "app" (first at line 9)`}},
		{"null list element", cnpHead + "  ingress:\n  -\n",
			[]string{`p.yaml:11:4: spec.ingress[0]: list element is empty (null)`}},
		{"label key path is quoted", cnpHead + "  ingress:\n  - fromEndpoints:\n    - matchLabels:\n        kubernetes.io/metadata.name: 5\n",
			[]string{`p.yaml:13:38: spec.ingress[0].fromEndpoints[0].matchLabels["kubernetes.io/metadata.name"]: expected a string, got integer 5`}},
		{"several problems reported together", cnpHead + "  ingres: []\n  egress:\n  - toPorts: [{ports: [{port: 53, protocol: 1}]}]\n",
			[]string{`p.yaml:10:3: spec.ingres: unknown field`, `p.yaml:12:31: spec.egress[0].toPorts[0].ports[0].port: expected a string`, `p.yaml:12:45: spec.egress[0].toPorts[0].ports[0].protocol: expected a string`}},
		{"wrong apiVersion", strings.Replace(cnpHead, "cilium.io/v2", "cilium.io/v1", 1) + "  ingress: [{}]\n",
			[]string{`p.yaml:1:13: apiVersion: apiVersion "cilium.io/v1" is not served for CiliumNetworkPolicy`}},
		{"missing kind", "apiVersion: cilium.io/v2\nmetadata: {name: x}\n",
			[]string{`p.yaml:1:1: kind: kind is missing`}},
		{"not an object", "just a string\n",
			[]string{`p.yaml:1:1: document is not a mapping`}},
		{"unrecognised object", "foo: 1\nbar: 2\n",
			[]string{`p.yaml:1:1: not a Kubernetes object: apiVersion and kind are missing`}},
		{"syntax error", cnpHead + "  ingress:\n  - fromEndpoints: [\n",
			[]string{`p.yaml:11: malformed YAML/JSON`}},
		{"bad indentation", cnpHead + "  ingress:\n  - fromEndpoints:\n    - matchLabels:\n      app: web\n     toPorts: []\n",
			[]string{`p.yaml:`, `malformed YAML/JSON`}},
		{"int out of range", cnpHead + "  egress:\n  - toPorts:\n    - ports:\n      - port: \"80\"\n        endPort: 99999999999\n",
			[]string{`spec.egress[0].toPorts[0].ports[0].endPort: integer 99999999999 is out of range`}},
		{"spec fields at top level", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nendpointSelector: {}\n",
			[]string{`p.yaml:4:1: endpointSelector: unknown field "endpointSelector"`}},
		{"L7 in deny", cnpHead + "  ingressDeny:\n  - toPorts:\n    - ports: [{port: \"80\"}]\n      rules: {http: [{}]}\n",
			[]string{`p.yaml:13:7: spec.ingressDeny[0].toPorts[0].rules: unknown field "rules"`}},
		{"fqdn in deny", cnpHead + "  egressDeny:\n  - toFQDNs: [{matchName: a.com}]\n",
			[]string{`p.yaml:11:5: spec.egressDeny[0].toFQDNs: unknown field "toFQDNs"`}},
		{"list item error keeps item positions", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: cilium.io/v2\n  kind: CiliumNetworkPolicy\n  metadata: {name: a}\n  spec: {endpointSelector: {}, ingress: [{}], bogus: 1}\n",
			[]string{`p.yaml:7:47: spec.bogus: unknown field "bogus"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := loadErr(t, c.src)
			rest := got
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error\n%s\ndoes not contain (in order)\n%s", got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLoadHints(t *testing.T) {
	cases := map[string]string{
		cnpHead + "  deny: []\n":                                       "egressDeny",
		cnpHead + "  Ingress: []\n":                                    `case-sensitive: did you mean "ingress"`,
		cnpHead + "  egres: []\n":                                      `did you mean "egress"`,
		cnpHead + "  ingress:\n  - ports: []\n":                        "ports go inside toPorts",
		cnpHead + "  ingress:\n  - toPorts: [{ports: [{port: 80}]}]\n": `quote the value: "80"`,
	}
	for src, want := range cases {
		_, err := LoadBytes("p.yaml", []byte(src))
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Fatalf("want one error, got %v", err)
		}
		if !strings.Contains(list[0].Hint, want) {
			t.Errorf("hint %q does not contain %q", list[0].Hint, want)
		}
	}
}

func TestLoadFormats(t *testing.T) {
	multi := cnpHead + "  ingress: [{}]\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" +
		strings.Replace(cnpHead, "name: p", "name: q", 1) + "  egress: [{}]\n"
	json := `{"apiVersion":"cilium.io/v2","kind":"CiliumClusterwideNetworkPolicy","metadata":{"name":"c"},
	"spec":{"nodeSelector":{},"ingress":[{"fromEntities":["cluster"]}]}}`
	list := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicyList
items:
- apiVersion: cilium.io/v2
  kind: CiliumNetworkPolicy
  metadata: {name: a, namespace: x}
  spec: {endpointSelector: {}, ingress: [{}]}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
- apiVersion: cilium.io/v2
  kind: CiliumNetworkPolicy
  metadata: {name: b, namespace: x}
  specs:
  - {endpointSelector: {}, egress: [{}]}
  - {endpointSelector: {}, ingress: [{}]}
`
	anchors := cnpHead + `  ingress:
  - &rule
    fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - <<: *rule
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
`
	tabs := "{\n\t\"apiVersion\": \"cilium.io/v2\",\n\t\"kind\": \"CiliumNetworkPolicy\",\n\t\"metadata\": {\"name\": \"t\"},\n\t\"spec\": {\"endpointSelector\": {}, \"egress\": [{}]}\n}\n"
	cases := []struct {
		name, src string
		names     []string
		lines     []int
		skipped   int
	}{
		{"multi-document", multi, []string{"p", "q"}, []int{1, 18}, 1},
		{"json", json, []string{"c"}, []int{1}, 0},
		{"list", list, []string{"a", "b"}, []int{4, 11}, 1},
		{"anchors and merge keys", anchors, []string{"p"}, []int{1}, 0},
		{"tab-indented json", tabs, []string{"t"}, []int{1}, 0},
		{"empty", "", nil, nil, 0},
		{"bom", "\xef\xbb\xbf" + cnpHead + "  ingress: [{}]\n", []string{"p"}, []int{1}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := LoadBytesWith("f.yaml", []byte(c.src), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var lines []int
			for _, p := range res.Policies {
				names = append(names, p.Metadata.Name)
				lines = append(lines, p.Origin.Line)
			}
			if strings.Join(names, ",") != strings.Join(c.names, ",") {
				t.Errorf("names %v, want %v", names, c.names)
			}
			if len(lines) != len(c.lines) || (len(lines) > 0 && lines[len(lines)-1] != c.lines[len(c.lines)-1]) {
				t.Errorf("lines %v, want %v", lines, c.lines)
			}
			if len(res.Skipped) != c.skipped {
				t.Errorf("skipped %v, want %d", res.Skipped, c.skipped)
			}
		})
	}
	ps, err := LoadBytes("a.yaml", []byte(anchors))
	if err != nil {
		t.Fatal(err)
	}
	ing := ps[0].Spec.Ingress
	if len(ing) != 2 || len(ing[1].FromEndpoints) != 1 || ing[1].ToPorts[0].Ports[0].Port != "443" {
		t.Errorf("merge key not expanded with override: %+v", ing)
	}
	ps, err = LoadBytes("l.yaml", []byte(list))
	if err != nil || len(ps[1].Specs) != 2 || ps[1].Metadata.Namespace != "x" {
		t.Errorf("list specs: %v %+v", err, ps)
	}
}

func TestLoadBadInput(t *testing.T) {
	cases := map[string]struct {
		src  []byte
		want string
	}{
		"invalid utf-8": {[]byte(cnpHead + "  description: \"caf\xe9\"\n  ingress: [{}]\n"), "p.yaml:10:20: not valid UTF-8 text (byte 0xe9)"},
		"binary":        {[]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0xff, 0xfe}, "p.yaml:1:"},
		"nul bytes":     {[]byte("apiVersion: cilium.io/v2\x00\x00\n"), "p.yaml:1"},
		"billion laughs": {[]byte(`a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: x, annotations: {}}
status: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`), "too large or too deeply aliased"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadBytes("p.yaml", c.src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	big := make([]byte, MaxFileSize+1)
	if _, err := LoadBytes("big.yaml", big); err == nil || !strings.Contains(err.Error(), "big.yaml: file is larger than 64 MiB") {
		t.Errorf("huge input: %v", err)
	}
}

func TestLoadPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadPath(dir); err == nil || !strings.Contains(err.Error(), "no .yaml, .yml or .json files in directory") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadPath(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
	named := func(n string) string { return strings.Replace(cnpHead, "name: p", "name: "+n, 1) + "  ingress: [{}]\n" }
	write("b.yaml", named("b"))
	write("a/z.yml", named("az"))
	write("a/a.json", `{"apiVersion":"cilium.io/v2","kind":"CiliumNetworkPolicy","metadata":{"name":"aa"},"spec":{"endpointSelector":{},"egress":[{}]}}`)
	write("notes.txt", "not yaml: [")
	write(".hidden/x.yaml", "broken: [")
	ps, err := LoadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Metadata.Name)
	}
	if strings.Join(got, ",") != "aa,az,b" {
		t.Errorf("order %v, want aa,az,b (sorted paths, .txt and hidden dirs ignored)", got)
	}
	if ps[0].Origin.File != filepath.Join(dir, "a", "a.json") {
		t.Errorf("origin file %q", ps[0].Origin.File)
	}
	// A ConfigMap volume: keys are symlinks into a hidden ..data directory.
	cm := filepath.Join(dir, "cm")
	write("cm/..2026_11_23/d.yaml", named("d"))
	if err := os.Symlink("..2026_11_23", filepath.Join(cm, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "d.yaml"), filepath.Join(cm, "d.yaml")); err != nil {
		t.Fatal(err)
	}
	ps, err = LoadPath(cm)
	if err != nil || len(ps) != 1 || ps[0].Metadata.Name != "d" {
		t.Errorf("ConfigMap-style directory: %v %v", err, ps)
	}
	if err := os.RemoveAll(cm); err != nil {
		t.Fatal(err)
	}
	write("c.yaml", named("c")+"  bogus: 1\n")
	_, err = LoadPath(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c.yaml")+":11:3: spec.bogus: unknown field") {
		t.Errorf("error in directory: %v", err)
	}
	res, err := Load(dir, LoadOptions{Lenient: true})
	if err != nil || len(res.Policies) != 4 || len(res.Errors) != 1 {
		t.Errorf("lenient: %v, %d policies, errors %v", err, len(res.Policies), res.Errors)
	}
}

func TestOriginPosition(t *testing.T) {
	ps, err := LoadBytes("p.yaml", []byte(cnpHead+"  ingress:\n  - fromEndpoints:\n    - matchLabels: {app: web}\n    toPorts:\n    - ports:\n      - port: \"80\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := ps[0].Origin
	for path, want := range map[string]int{
		"": 1,
		"spec.ingress[0].toPorts[0].ports[0].port":         15,
		"spec.ingress[0].toPorts[0].ports[0].protocol":     15, // not written: falls back to the parent
		"spec.ingress[0].fromEndpoints[0].matchLabels.app": 12,
		"metadata.name": 4,
	} {
		if got, _ := o.Position(path); got != want {
			t.Errorf("Position(%q) = %d, want %d", path, got, want)
		}
	}
}

// What "kubectl get cnp -A -o yaml" prints loads as it is.
func TestLoadKubectlExport(t *testing.T) {
	src := `apiVersion: v1
items:
- apiVersion: cilium.io/v2
  kind: CiliumNetworkPolicy
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"cilium.io/v2","kind":"CiliumNetworkPolicy"}
    creationTimestamp: "2026-11-20T10:00:00Z"
    finalizers: [example.com/keep]
    generation: 2
    managedFields:
    - apiVersion: cilium.io/v2
      fieldsType: FieldsV1
      fieldsV1: {f:spec: {}}
      manager: kubectl-client-side-apply
      operation: Update
      time: 2026-11-20T10:00:00Z
    name: web-to-api
    namespace: shop
    ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: 1234}]
    resourceVersion: "4711"
    uid: 0b6a4c1e-0000-4000-8000-000000000001
  spec:
    endpointSelector: {matchLabels: {app: api}}
    ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]
  status:
    conditions:
    - {lastTransitionTime: "2026-11-20T10:00:01Z", message: Policy validation succeeded, status: "True", type: Valid}
kind: List
metadata:
  resourceVersion: ""
`
	ps, err := LoadBytes("export.yaml", []byte(src))
	if err != nil || len(ps) != 1 || ps[0].Metadata.Generation != 2 || len(ps[0].Status) == 0 {
		t.Fatalf("%v %+v", err, ps)
	}
	if err := Validate(ps[0]); err != nil {
		t.Error(err)
	}
}
