package conformance

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on the shared 2-core
// machine wall-clock ns/op mostly measures the run queue.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchCase struct {
	c  Case
	ce *CiliumEngine
	pe *PostureEngine
}

// benchCorpus is the first 200 generated policy sets of the differential
// test with their 8 flows each: the same queries for both engines.
func benchCorpus(b *testing.B) (*Universe, []benchCase) {
	b.Helper()
	u := NewUniverse()
	var out []benchCase
	for _, c := range generateCases(u, 1600) {
		ce, err := NewCiliumEngine(u, c.Policies)
		if err != nil {
			b.Fatal(err)
		}
		pe, err := NewPostureEngine(c.Policies)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchCase{c, ce, pe})
	}
	return u, out
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkQuery times one verdict (both directions) with the engines
// built: Cilium's LookupFlow (which resolves and distills the selector
// policy of both endpoints on every call, as Cilium's tests use it)
// against posture's Evaluate (warm caches, as posture verify uses it).
func BenchmarkQuery(b *testing.B) {
	_, cs := benchCorpus(b)
	b.Run("cilium-LookupFlow", func(b *testing.B) {
		start := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bc := &cs[i%len(cs)]
			f := &bc.c.Flows[(i/len(cs))%len(bc.c.Flows)]
			if _, err := bc.ce.Lookup(f); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start)
	})
	b.Run("posture-Evaluate", func(b *testing.B) {
		start := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bc := &cs[i%len(cs)]
			f := &bc.c.Flows[(i/len(cs))%len(bc.c.Flows)]
			bc.pe.Lookup(f)
		}
		reportCPU(b, start)
	})
}

// BenchmarkBuildAndQuery times one whole case: import the policy set into
// a fresh engine and answer its 8 flows (Cilium: Parse, repository,
// LookupFlow; posture: Compile, Evaluate with cold caches).
func BenchmarkBuildAndQuery(b *testing.B) {
	u, cs := benchCorpus(b)
	b.Run("cilium", func(b *testing.B) {
		start := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c := &cs[i%len(cs)].c
			e, err := NewCiliumEngine(u, c.Policies)
			if err != nil {
				b.Fatal(err)
			}
			for j := range c.Flows {
				if _, err := e.Lookup(&c.Flows[j]); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportCPU(b, start)
	})
	b.Run("posture", func(b *testing.B) {
		start := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c := &cs[i%len(cs)].c
			e, err := NewPostureEngine(c.Policies)
			if err != nil {
				b.Fatal(err)
			}
			for j := range c.Flows {
				e.Lookup(&c.Flows[j])
			}
		}
		reportCPU(b, start)
	})
}
