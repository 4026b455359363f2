package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/posture-dev/posture/rollout"
)

func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("report.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("report.v1.json")
	if err != nil {
		t.Fatalf("compiling schema: %v", err)
	}
	return sch
}

func validate(t testing.TB, sch *jsonschema.Schema, out []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	return sch.Validate(inst)
}

func TestJSONMatchesSchema(t *testing.T) {
	sch := compileSchema(t)
	for _, opts := range []Options{{}, {Workloads: true}, {Namespace: "checkout", Workloads: true}} {
		if err := validate(t, sch, render(t, "json", opts)); err != nil {
			t.Errorf("report %+v does not match schema/report.v1.json: %v", opts, err)
		}
	}
	// An empty cluster is a valid report too.
	r, err := Build(&rollout.Status{GeneratedAt: fixtureNow}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	if err := validate(t, sch, buf.Bytes()); err != nil {
		t.Errorf("empty report does not match the schema: %v\n%s", err, buf.Bytes())
	}
}

// The schema must be strict enough to catch a wrong report, or the test
// above proves nothing.
func TestSchemaRejectsWrongReports(t *testing.T) {
	sch := compileSchema(t)
	good := render(t, "json", Options{Workloads: true})
	mutations := map[string]func(m map[string]any){
		"unknown stage":     func(m map[string]any) { ns(m)["stage"] = "enforcing" },
		"coverage above 1":  func(m map[string]any) { ns(m)["coverage"] = 1.5 },
		"missing gates":     func(m map[string]any) { delete(ns(m), "gates") },
		"bad time":          func(m map[string]any) { ns(m)["stageSince"] = "yesterday" },
		"negative count":    func(m map[string]any) { m["summary"].(map[string]any)["wouldDeny24h"] = -1 },
		"unknown field":     func(m map[string]any) { ns(m)["colour"] = "red" },
		"wrong apiVersion":  func(m map[string]any) { m["apiVersion"] = "posture.dev/report/v2" },
		"unknown promotion": func(m map[string]any) { ns(m)["nextPromotion"].(map[string]any)["state"] = "soon" },
	}
	for name, mutate := range mutations {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		out, _ := json.Marshal(m)
		if err := validate(t, sch, out); err == nil {
			t.Errorf("%s: the schema accepted a wrong report", name)
		}
	}
}

func ns(m map[string]any) map[string]any {
	return m["namespaces"].([]any)[0].(map[string]any)
}

func TestSchemaDocumentsEveryField(t *testing.T) {
	// Every top-level and namespace field the Go types write is declared.
	for _, f := range []string{`"apiVersion"`, `"timeInStageSeconds"`, `"nextPromotion"`, `"workloadsEnforcedEgress"`, `"samples"`} {
		if !strings.Contains(string(SchemaJSON), f) {
			t.Errorf("schema does not declare %s", f)
		}
	}
}
