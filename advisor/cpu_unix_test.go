//go:build unix

package advisor_test

import "syscall"

// cpuSeconds is the process's user and system CPU time so far: on a
// shared machine, wall-clock time mostly measures the run queue.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
