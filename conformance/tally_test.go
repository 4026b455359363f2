package conformance

import (
	"path/filepath"
	"testing"
)

const disagreementsDir = "testdata/disagreements"

// tally collects disagreements: new kinds fail the test with a shrunk
// reproducer (the first few of each kind); kinds already filed under
// testdata/disagreements are counted and logged.
type tally struct {
	t        *testing.T
	u        *Universe
	known    map[string]string
	kinds    map[string]int
	failures int
	expected int
}

func newTally(t *testing.T, u *Universe) *tally {
	t.Helper()
	ks, err := LoadKnown(disagreementsDir)
	if err != nil {
		t.Fatal(err)
	}
	return &tally{t: t, u: u, known: KnownKinds(ks), kinds: map[string]int{}}
}

func (ty *tally) add(where string, d Disagreement) {
	ty.t.Helper()
	k := d.Kind()
	ty.kinds[k]++
	if _, ok := ty.known[k]; ok {
		ty.expected++
		return
	}
	ty.failures++
	if ty.kinds[k] <= 2 {
		ty.t.Errorf("%s: disagreement; minimal reproducer:\n%s", where, Shrink(ty.u, d).Reproducer())
	}
}

func (ty *tally) finish() {
	ty.t.Helper()
	for k, n := range ty.kinds {
		if f, ok := ty.known[k]; ok {
			ty.t.Logf("%d known disagreements of kind %q (filed as %s)", n, k, filepath.Join(disagreementsDir, f))
		} else {
			ty.t.Errorf("%d disagreements of kind %q", n, k)
		}
	}
}

// TestKnownDisagreements re-runs every filed reproducer: each must still
// disagree in the way it says, or it is stale and must be deleted (the
// evaluator was fixed).
func TestKnownDisagreements(t *testing.T) {
	ks, err := LoadKnown(disagreementsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) == 0 {
		t.Log("no known disagreements on file")
	}
	for _, k := range ks {
		canon := NewCanon()
		f, ok := canon.Flow(k.Flow)
		if !ok {
			t.Errorf("%s: flow cannot be placed", k.File)
			continue
		}
		ds, err := Compare(canon.U, k.Policies, &f)
		if err != nil {
			t.Errorf("%s: %v", k.File, err)
			continue
		}
		found := false
		for _, d := range ds {
			found = found || d.Kind() == k.Kind
		}
		if !found {
			t.Errorf("%s no longer reproduces (%q): the evaluator agrees with Cilium now; delete the file", k.File, k.Kind)
		} else {
			t.Logf("%s still reproduces: %s", k.File, k.Kind)
		}
	}
}
