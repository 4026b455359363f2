package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxFileSize caps one policy file; anything larger is refused with an
// error rather than read into memory (64 MiB is far beyond any real
// policy set).
const MaxFileSize = 64 << 20

// LoadOptions selects how forgiving a load is.
type LoadOptions struct {
	// Fragments wraps snippets that are not whole objects (a bare spec, a
	// rule as `cilium policy get` prints it, an ingress/egress list, a
	// toPorts list) into synthetic policies (see Origin.Fragment) instead
	// of skipping them.
	Fragments bool
	// Lenient keeps going after mistakes: problems are collected in
	// LoadResult.Errors and whatever part of each document was valid is
	// still returned, so lint can report everything at once.
	Lenient bool
}

// LoadResult is everything one load found.
type LoadResult struct {
	Policies []*Policy
	// Skipped lists documents that are not policies (Deployments,
	// Services, ...) and, unless LoadOptions.Fragments is set, fragments.
	Skipped []Skipped
	// Errors holds the problems found in lenient mode.
	Errors ErrorList
	// Files lists the files read, in load order.
	Files []string
}

// Skipped is a document the loader did not turn into a policy.
type Skipped struct {
	File       string
	Line       int
	Doc        int
	APIVersion string
	Kind       string
	Reason     string
}

// LoadPath loads every CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
// in a file or, recursively and in sorted order, in the .yaml, .yml and
// .json files of a directory. Other kinds of documents are skipped. Any
// mistake makes it fail with an ErrorList naming file, line and field.
func LoadPath(path string) ([]*Policy, error) {
	res, err := Load(path, LoadOptions{})
	if err != nil {
		return nil, err
	}
	return res.Policies, nil
}

// LoadBytes loads the policies in data, which came from a file called name
// (used in error messages). Multi-document YAML, JSON and List kinds are
// understood.
func LoadBytes(name string, data []byte) ([]*Policy, error) {
	res, err := LoadBytesWith(name, data, LoadOptions{})
	if err != nil {
		return nil, err
	}
	return res.Policies, nil
}

// LoadFragment loads data like LoadBytes but also accepts snippets that are
// not whole objects, wrapping each into a synthetic policy whose
// Origin.Fragment says what the snippet was. The namespace of a fragment is
// unknown and left empty.
func LoadFragment(name string, data []byte) ([]*Policy, error) {
	res, err := LoadBytesWith(name, data, LoadOptions{Fragments: true})
	if err != nil {
		return nil, err
	}
	return res.Policies, nil
}

// Load reads a file or directory. In strict mode any problem is returned as
// an ErrorList; in lenient mode problems go to LoadResult.Errors and the
// error is reserved for a path that cannot be read at all.
func Load(path string, opts LoadOptions) (*LoadResult, error) {
	files, err := policyFiles(path)
	if err != nil {
		return nil, err
	}
	res := &LoadResult{}
	for _, f := range files {
		data, err := readCapped(f)
		if err != nil {
			if !opts.Lenient {
				return nil, err
			}
			var e *Error
			if errors.As(err, &e) {
				res.Errors = append(res.Errors, e)
				res.Files = append(res.Files, f)
				continue
			}
			return nil, err
		}
		one := loadBytes(f, data, opts)
		res.merge(one)
	}
	if !opts.Lenient {
		if err := res.Errors.err(); err != nil {
			return nil, err
		}
	}
	res.Errors.sort()
	return res, nil
}

// LoadBytesWith is LoadBytes with options.
func LoadBytesWith(name string, data []byte, opts LoadOptions) (*LoadResult, error) {
	if len(data) > MaxFileSize {
		e := &Error{File: name, Code: CodeFile, Msg: fmt.Sprintf("file is larger than %d MiB", MaxFileSize>>20)}
		if !opts.Lenient {
			return nil, ErrorList{e}
		}
		return &LoadResult{Errors: ErrorList{e}, Files: []string{name}}, nil
	}
	res := loadBytes(name, data, opts)
	if !opts.Lenient {
		if err := res.Errors.err(); err != nil {
			return nil, err
		}
	}
	res.Errors.sort()
	return res, nil
}

func (r *LoadResult) merge(o *LoadResult) {
	r.Policies = append(r.Policies, o.Policies...)
	r.Skipped = append(r.Skipped, o.Skipped...)
	r.Errors = append(r.Errors, o.Errors...)
	r.Files = append(r.Files, o.Files...)
}

func isPolicyFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// policyFiles expands path into the files to read.
func policyFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !isPolicyFile(p) {
			return nil
		}
		regular := d.Type().IsRegular()
		if d.Type()&fs.ModeSymlink != 0 {
			// ConfigMap volumes present every key as a symlink into a
			// hidden "..data" directory; follow links to files, never
			// to directories (no loops).
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				regular = true
			}
		}
		if regular {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reading policies: no .yaml, .yml or .json files in directory %s", path)
	}
	slices.Sort(files)
	return files, nil
}

func readCapped(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading policies: %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Code: CodeFile, Msg: fmt.Sprintf("file is larger than %d MiB", MaxFileSize>>20)}
	}
	return data, nil
}

// checkText rejects input that is not UTF-8 text, naming the line of the
// first bad byte.
func checkText(name string, data []byte) *Error {
	if utf8.Valid(data) {
		return nil
	}
	off := 0
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:off], '\n')+1:off])
	return &Error{File: name, Line: line, Column: col, Code: CodeFile,
		Msg: fmt.Sprintf("not valid UTF-8 text (byte 0x%02x)", data[off]), Hint: "policy files must be UTF-8 YAML or JSON"}
}
