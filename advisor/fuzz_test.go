package advisor_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/flow"
)

// FuzzSuggest feeds arbitrary evidence (posture JSONL lines) to Suggest:
// it must never panic, and whatever it proposes must pass its own
// verification — a breakage on any input is a bug.
func FuzzSuggest(f *testing.F) {
	for _, name := range []string{"three-tier", "messy", "fqdn", "cidr", "l7"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".input"))
		if err != nil {
			f.Fatal(err)
		}
		// A few lines per case keep the seeds small.
		lines := bytes.SplitAfter(data, []byte("\n"))
		f.Add(bytes.Join(lines[:min(len(lines), 12)], nil), name == "l7")
	}
	f.Fuzz(func(t *testing.T, data []byte, l7 bool) {
		agg := flow.NewAggregator()
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), flow.MaxLineBytes)
		for sc.Scan() {
			r, err := flow.DecodeRecord(sc.Bytes())
			if err != nil {
				continue
			}
			if r.Flow != nil {
				agg.Add(r.Flow)
			}
			if r.Edge != nil {
				agg.Merge(r.Edge)
			}
		}
		p, err := advisor.Suggest(agg.Edges(), advisor.Options{L7: l7, ExcludeNamespaces: []string{}})
		if err != nil {
			if errors.Is(err, advisor.ErrBreakage) {
				t.Fatalf("breakage on fuzzed evidence: %v", err)
			}
			t.Fatalf("Suggest: %v", err)
		}
		if p == nil {
			t.Fatal("nil proposal")
		}
	})
}
