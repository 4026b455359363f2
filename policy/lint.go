package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Severity of a lint finding.
type Severity string

// Severities, most severe first. Errors are policies Cilium rejects or
// that cannot do what they were written for; warnings are policies that
// work but surprise people; info notes context worth knowing.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	}
	return 2
}

// Finding is one lint result. Rule is a stable id (the loader's and
// Validate's error codes, or a lint rule such as
// "namespace-label-as-pod-label"); Path is the field path as the user wrote
// it.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column,omitempty"`
	Severity Severity `json:"severity"`
	Rule     string   `json:"rule"`
	Policy   string   `json:"policy,omitempty"`
	Path     string   `json:"path,omitempty"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`

	doc int // document index, to match findings with load errors
}

// Location is "file:line" (or "file:line:column").
func (f Finding) Location() string {
	switch {
	case f.Line > 0 && f.Column > 0:
		return fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
	case f.Line > 0:
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

// Lint validates each policy and looks for the mistakes people make with
// Cilium policy that Cilium itself accepts: namespace labels read as pod
// labels, FQDN rules nobody's DNS traffic feeds, DNS allowed on UDP only,
// deny-only policies that silently default-deny a direction, egress
// default deny without DNS, broad entities without ports, toServices on
// selector-backed Services, host policies on every node, duplicates and
// rules that read backwards. Policies are linted as one set: a DNS rule in
// one policy serves toFQDNs in another of the same namespace. Mistakes
// that stop a document from decoding (syntax, unknown fields, wrong
// types) are the loader's; LintPath and LintBytes report them too.
func Lint(ps []*Policy) []Finding {
	var out []Finding
	l := &linter{set: ps}
	for _, p := range ps {
		if p == nil {
			continue
		}
		var list ErrorList
		if err := Validate(p); errors.As(err, &list) {
			out = append(out, findingsFrom(list, policyLabel(p))...)
		}
		l.policy(p)
	}
	out = append(out, l.findings...)
	SortFindings(out)
	return out
}

// FindingsFromErrors turns load or validation errors into error findings.
func FindingsFromErrors(errs ErrorList) []Finding {
	return findingsFrom(errs, "")
}

func findingsFrom(errs ErrorList, policy string) []Finding {
	out := make([]Finding, 0, len(errs))
	for _, e := range errs {
		out = append(out, Finding{File: e.File, Line: e.Line, Column: e.Column, Severity: SeverityError,
			Rule: e.Code, Policy: policy, Path: e.Path, Message: e.Msg, Hint: e.Hint, doc: e.Doc})
	}
	return out
}

// SortFindings orders findings by file, line, column, severity and rule.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Severity.rank(), b.Severity.rank()),
			cmp.Compare(a.Rule, b.Rule),
		)
	})
}

// LintReport is the result of linting a path.
type LintReport struct {
	Findings []Finding
	Files    []string
	Policies []*Policy
	Skipped  []Skipped
}

// Count returns how many findings have severity s.
func (r *LintReport) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// LintPath loads a file or directory leniently, fragments included, and
// lints everything in it: mistakes the loader finds (syntax, unknown
// fields, wrong types) become error findings next to Lint's. The error is
// only for a path that cannot be read at all.
func LintPath(path string) (*LintReport, error) {
	res, err := Load(path, LoadOptions{Fragments: true, Lenient: true})
	if err != nil {
		return nil, err
	}
	return lintResult(res), nil
}

// LintBytes is LintPath for data read from a file called name.
func LintBytes(name string, data []byte) *LintReport {
	res, _ := LoadBytesWith(name, data, LoadOptions{Fragments: true, Lenient: true})
	return lintResult(res)
}

func lintResult(res *LoadResult) *LintReport {
	// A value the loader rejected is missing from the decoded policy;
	// what Lint then says about that field or below it is an echo.
	type at struct {
		file string
		doc  int
		path string
	}
	bad := map[at]bool{}
	for _, e := range res.Errors {
		if e.Path != "" {
			bad[at{e.File, e.Doc, e.Path}] = true
		}
	}
	echo := func(f Finding) bool {
		for p := f.Path; ; p = parentPath(p) {
			if bad[at{f.File, f.doc, p}] {
				return true
			}
			if p == "" {
				return false
			}
		}
	}
	fs := FindingsFromErrors(res.Errors)
	for _, f := range Lint(res.Policies) {
		if !echo(f) {
			fs = append(fs, f)
		}
	}
	SortFindings(fs)
	return &LintReport{Findings: dedupe(fs), Files: res.Files, Policies: res.Policies, Skipped: res.Skipped}
}

// dedupe drops findings repeated at the same place with the same rule and
// message (a rule shared by two lint passes).
func dedupe(fs []Finding) []Finding {
	out := fs[:0]
	for i, f := range fs {
		if i > 0 && f == fs[i-1] {
			continue
		}
		out = append(out, f)
	}
	return out
}
