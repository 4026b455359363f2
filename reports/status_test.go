package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestReadStatusRoundTrip(t *testing.T) {
	want := fixtureStatus()
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatus("status.json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(got)
	if !bytes.Equal(data, again) {
		t.Error("status changed in a JSON round trip")
	}
}

func TestReadStatusErrors(t *testing.T) {
	cases := map[string]string{
		"":   "status.json: empty status document",
		"{}": "status.json: field generatedAt: missing",
		"{\n\"generatedAt\": \"2026-11-23T12:00:00Z\",\n\"namespaces\": [\n{\"namespace\": \"a\", \"coverage\": \"high\"}]}": "status.json:4:",
		"{\n\"generatedAt\": \"2026-11-23T12:00:00Z\",\n\"namespaces\": [\n{\"namespace\": \"a\",,}]}":                       "status.json:4:19: invalid character ','",
		`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": [{"namespace": "a", "stage": "enforcing"}]}`:                  `unknown stage "enforcing"`,
		`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": [{"stage": "observe"}]}`:                                      "field namespaces[0].namespace: missing",
		`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": []} {"generatedAt": "2026-11-23T12:00:00Z"}`:                  "status.json:1:59: unexpected data",
		`{"generatedAt": "yesterday"}`:                            "status.json",
		`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": [`: "status.json:1:56: status document ends early",
	}
	for in, want := range cases {
		_, err := ReadStatus("status.json", strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadStatus(%.50q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// FuzzReadStatus: no input makes reading panic, and every status that
// reads renders in every format, the JSON one valid against the schema.
func FuzzReadStatus(f *testing.F) {
	// Small seeds: the fuzzer mutates them far faster than whole
	// fixtures (testdata/fuzz/FuzzReadStatus holds a full namespace).
	small := hostileStatus()
	small.Namespaces = small.Namespaces[:1]
	data, _ := json.Marshal(small)
	f.Add(data)
	f.Add([]byte(`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": [{"namespace": "a", "stage": "done", "coverage": 2}]}`))
	f.Add([]byte(`{"generatedAt": "2026-11-23T12:00:00Z", "namespaces": [{"namespace": "a", "nextStage": "l7", "eta": "2020-01-01T00:00:00Z", "samples": [{"time": "9999-12-31T23:59:59Z", "coverage": -1}]}]}`))
	f.Add([]byte(`{"generatedAt": "0001-01-01T00:00:01Z", "namespaces": [{"namespace": "x", "stageSince": "9999-01-01T00:00:00Z", "history": [{"time": "2026-01-01T00:00:00Z", "from": "l7", "to": "observe"}]}]}`))
	sch := compileSchema(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := ReadStatus("fuzz.json", bytes.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		r, err := Build(st, Options{Workloads: true, Width: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range Formats {
			var buf bytes.Buffer
			if err := Write(&buf, r, format); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if format == "json" {
				if err := validate(t, sch, buf.Bytes()); err != nil {
					t.Fatalf("json report does not match the schema: %v", err)
				}
			}
		}
		if err := WriteJSON(io.Discard, r); err != nil {
			t.Fatal(err)
		}
	})
}
