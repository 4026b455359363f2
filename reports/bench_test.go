//go:build unix

package reports

import (
	"encoding/json"
	"io"
	"testing"
)

const (
	benchNamespaces = 500
	benchWorkloads  = 20000
)

// BenchmarkReport renders a 500-namespace, 20,000-workload cluster (with
// the per-workload breakdown, the largest report) in every format. The
// baseline is encoding/json over the raw status: the least any renderer
// of the same data could cost.
func BenchmarkReport(b *testing.B) {
	st := syntheticStatus(benchNamespaces, benchWorkloads)
	b.Run("baseline-json-marshal-status", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			if err := json.NewEncoder(io.Discard).Encode(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("table-without-workloads", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			r, err := Build(st, Options{Width: 160})
			if err != nil {
				b.Fatal(err)
			}
			if err := Write(io.Discard, r, "table"); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, format := range Formats {
		b.Run(format, func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				r, err := Build(st, Options{Workloads: true, Width: 160})
				if err != nil {
					b.Fatal(err)
				}
				if err := Write(io.Discard, r, format); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuPerOp reports the process's CPU time per operation: on a shared
// machine wall time mostly measures the run queue.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}
