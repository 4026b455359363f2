package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a policy file: where it is (file, line,
// column, field path), a stable code that lint reuses as its rule id, what
// is wrong and, when there is an obvious fix, a hint.
type Error struct {
	File   string
	Line   int // 1-based; 0 only for problems with the file as a whole
	Column int // 1-based; 0 when unknown
	Path   string
	Doc    int // 0-based document index in a multi-document file
	Code   string
	Msg    string
	Hint   string
}

// Error formats the problem as "file:line:col: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one load or validation, in file and
// line order. It is returned as an error only when non-empty.
type ErrorList []*Error

// maxListed caps how many problems ErrorList.Error spells out; a file with
// thousands of mistakes should not produce a megabyte error string.
const maxListed = 20

// Error lists the problems one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == maxListed {
			fmt.Fprintf(&b, "\n... and %d more", len(l)-maxListed)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the individual problems to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// err returns the list as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	return l
}

func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}

// Codes of problems the loader reports; lint uses them as rule ids.
const (
	CodeFile         = "file"          // unreadable, too large, not UTF-8
	CodeSyntax       = "yaml-syntax"   // malformed YAML or JSON
	CodeDocument     = "document"      // not an object, missing kind, bad apiVersion
	CodeUnknownField = "unknown-field" // field the type does not have
	CodeWrongType    = "wrong-type"    // e.g. a number where a string belongs
	CodeDuplicateKey = "duplicate-key" // the same key twice in one mapping
	CodeInvalidValue = "invalid-value" // right type, value out of range
)
