package conformance

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/posture-dev/posture/policy"
)

func loadSchemas(t testing.TB) Schemas {
	t.Helper()
	s, err := LoadSchemas()
	if err != nil {
		t.Fatalf("loading Cilium CRD schemas: %v", err)
	}
	return s
}

// policyObject turns a posture policy into the unstructured object the API
// server would receive from posture's output.
func policyObject(t testing.TB, p *policy.Policy) map[string]any {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal %s: %v", p.Metadata.Name, err)
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(b, &obj); err != nil {
		t.Fatalf("decode %s: %v", p.Metadata.Name, err)
	}
	return obj
}

// checkAccepted asserts that Cilium's schema and parser both accept p.
func checkAccepted(t *testing.T, s Schemas, where string, p *policy.Policy) {
	t.Helper()
	res, err := s.CheckDocument(policyObject(t, p))
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if !res.OK() {
		t.Errorf("%s: Cilium CRD schema rejects %s %q: %s", where, p.Kind, p.Metadata.Name, res)
	}
	if _, err := ParseWithCilium(p); err != nil {
		t.Errorf("%s: Cilium Parse rejects %s %q: %v", where, p.Kind, p.Metadata.Name, err)
	}
}

func sharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("POSTURE_SHARED")
	if dir == "" {
		// ../shared beside the checkout; one level further up from a
		// worktree kept in a sub-directory.
		dir = filepath.Join("..", "..", "shared")
		if _, err := os.Stat(dir); err != nil {
			dir = filepath.Join("..", "..", "..", "shared")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "seeds", "examples")); err != nil {
		t.Fatalf("shared data not found at %s (set POSTURE_SHARED): %v", dir, err)
	}
	return dir
}

// seedVerdicts says which whole-object seed examples Cilium v1.20 stores;
// examples/README.md explains each. 19 is the negative control: its
// `deny:` field does not exist, and without it the spec has no section.
var seedVerdicts = map[string]bool{
	"01-payments-api-deployment-and-cnp.yaml": true,
	"02-dns-observe-no-deny.yaml":             true,
	"03-payments-api-policy.yaml":             true,
	"04-allow-within-namespace.yaml":          true,
	"12-coreapi-deny-from-jobs.yaml":          true,
	"13-crawler-deny-partner-cidr.yaml":       true,
	"14-app-deny-world-http.yaml":             true,
	"15-node-access-controls.yaml":            true,
	"19-deny-a-to-b.yaml":                     false,
	"20-allow-frontend-to-b.yaml":             true,
}

func TestSchemaSeedExamples(t *testing.T) {
	s := loadSchemas(t)
	dir := filepath.Join(sharedDir(t), "seeds", "examples")
	seen := 0
	for name, want := range seedVerdicts {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		docs, err := DecodeDocuments(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, d := range docs {
			if _, ok := s[asString(d["kind"])]; !ok {
				continue
			}
			seen++
			res, _ := s.CheckDocument(d)
			if res.OK() != want {
				t.Errorf("%s doc %d: schema accepted=%v, want %v: %s", name, i+1, res.OK(), want, res)
			}
			if !want {
				// The negative control must fail for the documented reasons.
				if !containsStr(res.Unknown, ".spec.deny") && !containsStr(res.Unknown, "spec.deny") {
					t.Errorf("%s: pruning did not report spec.deny as unknown: %v", name, res.Unknown)
				}
				if len(res.Errors) == 0 {
					t.Errorf("%s: no validation error for a spec without sections", name)
				}
				t.Logf("%s rejected as expected: %s", name, res)
			}
		}
		// Parse must agree with the schema on what posture's loader reads.
		ps, err := policy.LoadBytes(name, data)
		if err != nil {
			if want {
				t.Errorf("%s: loader: %v", name, err)
			}
			continue
		}
		for _, p := range ps {
			_, perr := ParseWithCilium(p)
			if want && perr != nil {
				t.Errorf("%s: Cilium Parse: %v", name, perr)
			}
		}
	}
	if seen < len(seedVerdicts) {
		t.Errorf("checked %d policy documents, want at least %d", seen, len(seedVerdicts))
	}
}

func asString(v any) string { s, _ := v.(string); return s }

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestSchemaRepositoryTestdata validates every CNP/CCNP under any testdata
// directory of the repository (fuzz corpora aside) that posture's loader
// accepts: whatever posture reads as valid, Cilium must store and parse,
// both as written and as posture writes it back out.
func TestSchemaRepositoryTestdata(t *testing.T) {
	s := loadSchemas(t)
	root := filepath.Join("..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "fuzz", "out", "bin", "cilium-rejects", "disagreements":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.Contains(filepath.ToSlash(path), "/testdata/") {
			return nil
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ps, lerr := policy.LoadBytes(path, data)
		if lerr != nil || len(ps) == 0 {
			return nil // not a policy file, or one posture rejects on purpose
		}
		docs, _ := DecodeDocuments(data)
		for i, d := range docs {
			if _, ok := s[asString(d["kind"])]; !ok {
				continue
			}
			if res, _ := s.CheckDocument(d); !res.OK() {
				t.Errorf("%s doc %d: posture loads it but Cilium's CRD schema rejects it: %s", path, i+1, res)
			}
		}
		for _, p := range ps {
			checkAccepted(t, s, path, p)
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no policies found under the repository's testdata directories")
	}
	t.Logf("%d policies from repository testdata accepted by Cilium's schema and parser", checked)
}

// TestSchemaGenerated checks that every policy the differential generator
// writes is a valid Cilium object, so the differential test compares
// engines on policies a cluster would accept.
func TestSchemaGenerated(t *testing.T) {
	s := loadSchemas(t)
	u := NewUniverse()
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := range n {
		c := NewGenerator(u, uint64(i)).Case(uint64(i), 0)
		for _, p := range c.Policies {
			checkAccepted(t, s, c.String(), p)
		}
		noLintErrors(t, c.String(), c.Policies)
		if t.Failed() {
			return
		}
	}
}

// TestSchemaHandWritten covers the language beyond the generator (L7,
// FQDN, services, ICMP, node selectors) with examples that must be stored,
// and a corpus of mistakes Cilium v1.20 must refuse, each at the stage
// (schema or parser) where a cluster would refuse it.
func TestSchemaHandWritten(t *testing.T) {
	s := loadSchemas(t)
	valid, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	if len(valid) == 0 {
		t.Fatal("no testdata/valid examples")
	}
	for _, f := range valid {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := DecodeDocuments(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, d := range docs {
			if res, _ := s.CheckDocument(d); !res.OK() {
				t.Errorf("%s doc %d: schema: %s", f, i+1, res)
			}
		}
		ps, err := policy.LoadBytes(f, data)
		if err != nil {
			t.Errorf("%s: posture's loader: %v", f, err)
			continue
		}
		for _, p := range ps {
			checkAccepted(t, s, f, p)
		}
		// posture must not call an error what Cilium stores.
		for _, fd := range policy.LintBytes(f, data).Findings {
			if fd.Severity == policy.SeverityError {
				t.Errorf("%s: Cilium stores it but posture lint reports an error: %s %s: %s", f, fd.Location(), fd.Rule, fd.Message)
			}
		}
	}
	bad, _ := filepath.Glob(filepath.Join("testdata", "cilium-rejects", "*.yaml"))
	if len(bad) < 10 {
		t.Fatalf("only %d cilium-rejects examples", len(bad))
	}
	for _, f := range bad {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := DecodeDocuments(data)
		if err != nil || len(docs) != 1 {
			t.Fatalf("%s: want one document: %v", f, err)
		}
		res, _ := s.CheckDocument(copyObj(t, docs[0]))
		_, perr := ParseRawWithCilium(docs[0])
		if res.OK() && perr == nil {
			t.Errorf("%s: Cilium accepts it, but the example says it must not", f)
			continue
		}
		// posture must refuse it too: a load error or an error finding.
		lint := policy.LintBytes(f, data)
		refused := lint.Count(policy.SeverityError) > 0
		base := filepath.Base(f)
		switch gap, known := postureGaps[base]; {
		case !refused && !known:
			t.Errorf("%s: Cilium refuses it (schema: %s; parse: %v) but posture lint reports no error", base, orOK(res), perr)
		case !refused:
			t.Logf("%s: known posture gap (%s): Cilium refuses it (schema: %s; parse: %v)", base, gap, orOK(res), perr)
		case known:
			t.Logf("%s: posture now refuses it: remove it from postureGaps", base)
		default:
			t.Logf("%s: refused by Cilium (schema: %s; parse: %v) and by posture", base, orOK(res), perr)
		}
	}
}

// postureGaps lists Cilium-refused examples posture's lint does not yet
// report as errors (reported to the loader's owners).
var postureGaps = map[string]string{
	"02-from-requires.yaml": "fromRequires is accepted and evaluated; Cilium v1.20's CRD has it as a deprecated string list with maxItems 0",
}

func orOK(r SchemaResult) string {
	if r.OK() {
		return "ok"
	}
	return r.String()
}

func copyObj(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	b, err := utiljson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// noLintErrors: posture must not call an error what Cilium accepts.
func noLintErrors(t *testing.T, where string, ps []*policy.Policy) {
	t.Helper()
	for _, fd := range policy.Lint(ps) {
		if fd.Severity == policy.SeverityError {
			t.Errorf("%s: Cilium accepts it but posture lint reports an error: %s %s %s: %s\n%s", where, fd.Policy, fd.Path, fd.Rule, fd.Message, casePolicyYAML(ps))
		}
	}
}
