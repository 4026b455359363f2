package policy

import (
	"reflect"
	"testing"
)

// An engine compiled by a Compiler reusing its previous engine decides
// exactly as one compiled afresh.
func TestCompilerReuse(t *testing.T) {
	small := newBenchWorld(4, 10, 2, 6, 512)
	big := newBenchWorld(8, 20, 3, 8, 1024)
	var c Compiler
	for i, w := range []*benchWorld{big, small, big} {
		reused, err := c.Compile(w.policies, CompileOptions{AsEnforced: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := Compile(w.policies, CompileOptions{AsEnforced: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		for j := range w.flows {
			got, want := reused.Evaluate(&w.flows[j]), fresh.Evaluate(&w.flows[j])
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("set %d flow %d: reused engine %+v, fresh %+v", i, j, got, want)
			}
		}
	}
}
