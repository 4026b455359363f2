package evidence

import (
	"bytes"
	"context"
	"io"
	"syscall"
	"testing"
	"time"
)

// repeatReader yields data n times without holding n copies.
type repeatReader struct {
	data []byte
	n    int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.data[r.off:])
	r.off += c
	if r.off == len(r.data) {
		r.off = 0
		r.n--
	}
	return c, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadEdges runs the whole ingestion path (line reading, Hubble
// decoding, connection tracking, DNS names, aggregation) over the real
// captures, 688 lines per repetition. cpu-ns/line is process CPU time per
// line, which the shared machine's load does not inflate (ns/op does).
func BenchmarkLoadEdges(b *testing.B) {
	data := captures(b)
	lines := bytes.Count(data, []byte{'\n'})
	const reps = 100
	b.SetBytes(int64(len(data) * reps))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		_, st, err := LoadEdges(context.Background(), "-", &repeatReader{data: data, n: reps})
		if err != nil || st.Lines != lines*reps {
			b.Fatal(err, st.Lines)
		}
	}
	cpu := cpuTime() - start
	total := float64(b.N * lines * reps)
	b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/line")
	b.ReportMetric(total/cpu.Seconds(), "lines/cpu-s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/line")
}
