package policy

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzLoadBytes checks that no input crashes the loader, Validate or Lint,
// that every error and finding names the file and a line, and that
// whatever loads survives a marshal/load round trip unchanged.
func FuzzLoadBytes(f *testing.F) {
	if data, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := LoadBytes("f.yaml", data)
		checkLocated(t, err)
		for _, mode := range []LoadOptions{{Fragments: true}, {Fragments: true, Lenient: true}} {
			res, err := LoadBytesWith("f.yaml", data, mode)
			checkLocated(t, err)
			if res != nil {
				checkLocated(t, res.Errors.err())
				for _, p := range res.Policies {
					checkLocated(t, Validate(p))
				}
			}
		}
		for _, f := range LintBytes("f.yaml", data).Findings {
			if f.File != "f.yaml" || f.Line < 1 || f.Rule == "" || f.Message == "" {
				t.Fatalf("finding without location, rule or message: %+v", f)
			}
		}
		if err != nil {
			return
		}
		out, err := Marshal(ps)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := LoadBytes("m.yaml", out)
		if err != nil {
			t.Fatalf("marshalled policies do not load again: %v\n%s", err, out)
		}
		out2, err := Marshal(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the policies:\n%s\n----\n%s", out, out2)
		}
	})
}

func checkLocated(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is not an ErrorList: %T %v", err, err)
	}
	for _, e := range list {
		if e.File != "f.yaml" || e.Line < 1 || e.Msg == "" || e.Code == "" {
			t.Fatalf("error without location, code or message: %#v", e)
		}
	}
}
