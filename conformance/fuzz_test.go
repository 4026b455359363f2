package conformance

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/policy"
)

// FuzzValidationAgreement feeds documents to Cilium (CRD schema, then
// Parse) and to posture (loader, then lint errors) and requires them to
// agree on what is a valid policy, in both directions. Known gaps are
// skipped by what they contain.
func FuzzValidationAgreement(f *testing.F) {
	for _, dir := range []string{"valid", "cilium-rejects"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			docs, err := DecodeDocuments(data)
			if err != nil {
				f.Fatal(err)
			}
			for _, d := range docs {
				b, err := yaml.Marshal(d)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	s := loadSchemas(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := DecodeDocuments(data)
		if err != nil || len(docs) != 1 {
			return // one document at a time keeps the verdicts comparable
		}
		kind := asString(docs[0]["kind"])
		if _, ok := s[kind]; !ok {
			return
		}
		if knownValidationGap(docs[0]) != "" {
			return
		}
		// The API server stands before the agent: Parse only sees what
		// the schema stored (Parse itself panics on `specs: [null]`,
		// which the schema refuses).
		res, _ := s.CheckDocument(copyObj(t, docs[0]))
		var perr error
		if res.OK() {
			_, perr = ParseRawWithCilium(copyObj(t, docs[0]))
		}
		cilium := res.OK() && perr == nil

		lint := policy.LintBytes("fuzz.yaml", data)
		posture := lint.Count(policy.SeverityError) == 0 && len(lint.Policies) == 1
		if cilium != posture {
			var errs []string
			for _, fd := range lint.Findings {
				if fd.Severity == policy.SeverityError {
					errs = append(errs, fd.Rule+": "+fd.Message)
				}
			}
			t.Errorf("Cilium valid=%v (schema: %s; parse: %v), posture valid=%v (lint errors: %v)\n%s", cilium, orOK(res), perr, posture, errs, data)
		}
	})
}

// hasKey reports whether key appears anywhere in the object.
func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if k == key || hasKey(c, key) {
				return true
			}
		}
	case []any:
		for _, c := range x {
			if hasKey(c, key) {
				return true
			}
		}
	}
	return false
}

// knownValidationGap names a known difference between posture's and
// Cilium's validation that obj exhibits, or "".
func knownValidationGap(obj map[string]any) string {
	if hasKey(obj, "fromRequires") || hasKey(obj, "toRequires") {
		return "fromRequires/toRequires: posture accepts them, Cilium v1.20 refuses them (see postureGaps)"
	}
	if endPortBelowPort(obj) {
		// Cilium stores it and enforces the single port; posture refuses
		// to load or compile it.
		return "endPort below port: Cilium accepts it (single port), posture refuses it"
	}
	return ""
}

func endPortBelowPort(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if ep, ok := x["endPort"].(int64); ok && ep > 0 {
			if p, ok := x["port"].(string); ok {
				if n, err := strconv.Atoi(p); err == nil && int64(n) > ep {
					return true
				}
			}
		}
		for _, c := range x {
			if endPortBelowPort(c) {
				return true
			}
		}
	case []any:
		for _, c := range x {
			if endPortBelowPort(c) {
				return true
			}
		}
	}
	return false
}
