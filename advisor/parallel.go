package advisor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// inParallel runs do(i) for every i in [0, n) on up to GOMAXPROCS
// goroutines, taking indexes in order; each goroutine gets its own do from
// worker, so it can keep buffers of its own.
func inParallel(n int, worker func() func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := worker()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				do(i)
			}
		}()
	}
	wg.Wait()
}
