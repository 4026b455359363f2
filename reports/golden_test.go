package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./reports -update, then review the diff):\n--- got\n%s", path, got)
	}
}

func render(t testing.TB, format string, opts Options) []byte {
	t.Helper()
	r, err := Build(fixtureStatus(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, format); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	cases := []struct {
		file, format string
		opts         Options
	}{
		{"report.table.txt", "table", Options{Width: 120}},
		{"report.narrow.table.txt", "table", Options{Width: 80, Namespace: "checkout"}},
		{"report.color.table.txt", "table", Options{Width: 120, Brief: true, Color: true}},
		{"report.workloads.table.txt", "table", Options{Width: 120, Namespace: "payments", Workloads: true}},
		{"report.md", "markdown", Options{}},
		{"report.workloads.md", "markdown", Options{Namespace: "monitoring", Workloads: true}},
		{"report.json", "json", Options{}},
		{"report.workloads.json", "json", Options{Namespace: "checkout", Workloads: true}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			golden(t, c.file, render(t, c.format, c.opts))
		})
	}
}
