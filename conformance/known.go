package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Known is a disagreement reported to the evaluator's owners and kept in
// testdata/disagreements/NNN.yaml (a Reproducer) until it is fixed.
type Known struct {
	File     string
	Kind     string
	Flow     flow.Flow
	Policies []*policy.Policy
}

// LoadKnown reads the reproducers in dir.
func LoadKnown(dir string) ([]Known, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []Known
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k := Known{File: f}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "# kind: "); ok {
				k.Kind = v
			}
			if v, ok := strings.CutPrefix(line, "# flow-json: "); ok {
				if err := json.Unmarshal([]byte(v), &k.Flow); err != nil {
					return nil, fmt.Errorf("%s: flow-json: %w", f, err)
				}
			}
		}
		if k.Kind == "" || k.Flow.Protocol == "" {
			return nil, fmt.Errorf("%s: missing '# kind:' or '# flow-json:' line", f)
		}
		if k.Policies, err = policy.LoadBytes(f, data); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// KnownKinds indexes known disagreements by kind.
func KnownKinds(ks []Known) map[string]string {
	m := map[string]string{}
	for _, k := range ks {
		m[k.Kind] = filepath.Base(k.File)
	}
	return m
}
