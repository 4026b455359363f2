package verify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/policy"
)

// loadPolicies is a minimal stand-in for policy.LoadPath until the strict
// loader lands: files or a directory of .yaml/.yml/.json files,
// multi-document, List kinds, unknown fields rejected.
func loadPolicies(path string) ([]*policy.Policy, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading policies: %w", err)
		}
		slices.Sort(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("reading policies: no .yaml, .yml or .json files in %s", path)
		}
	}
	var out []*policy.Policy
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading policies: %w", err)
		}
		ps, err := loadBytes(f, data)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

func loadBytes(name string, data []byte) ([]*policy.Policy, error) {
	var out []*policy.Policy
	line := 1
	for i, doc := range splitDocs(data) {
		start := line
		line += bytes.Count(doc, []byte("\n")) + 1
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var head struct {
			Kind  string    `json:"kind"`
			Items []rawJSON `json:"items"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, start, err)
		}
		docs := [][]byte{doc}
		if strings.HasSuffix(head.Kind, "List") {
			docs = docs[:0]
			for _, it := range head.Items {
				docs = append(docs, it)
			}
		}
		for _, d := range docs {
			var p policy.Policy
			if err := yaml.UnmarshalStrict(d, &p); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, start, err)
			}
			if p.Kind != policy.KindCNP && p.Kind != policy.KindCCNP {
				continue
			}
			p.Origin = policy.Origin{File: name, Line: start, Doc: i}
			out = append(out, &p)
		}
	}
	return out, nil
}

// rawJSON keeps List items as raw JSON for a second, strict pass.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error { *r = append((*r)[:0], b...); return nil }

func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if t := bytes.TrimRight(l, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, l...)
	}
	return append(docs, cur)
}

func stripComments(doc []byte) []byte {
	var b []byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			b = append(b, t...)
		}
	}
	return b
}
