package hubble

import "strings"

// WorkloadFromPod guesses the owning workload's name from a pod name when
// Hubble does not say (older versions have no workloads field), by
// stripping what Kubernetes controllers append:
//
//	reviews-v1-545db77b95-s6jb8 -> reviews-v1   (Deployment: ReplicaSet hash + random suffix)
//	node-local-dns-88zrp        -> node-local-dns (DaemonSet, bare Job: random suffix)
//	backup-28876140-x7k2p       -> backup       (CronJob: scheduled-time suffix)
//	web-0                       -> web          (StatefulSet ordinal)
//
// A pod created by hand whose name happens to end like a suffix is
// stripped too; the label set, not this name, decides the edge.
func WorkloadFromPod(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 {
		return pod
	}
	last := pod[i+1:]
	switch {
	case isDigits(last) && len(last) < 8:
		return pod[:i] // StatefulSet ordinal
	case len(last) == 5 && isSuffixAlphabet(last):
		rest := pod[:i]
		j := strings.LastIndexByte(rest, '-')
		if j <= 0 {
			return rest
		}
		prev := rest[j+1:]
		switch {
		case isDigits(prev) && len(prev) >= 8:
			return rest[:j] // CronJob: minutes since the epoch
		case len(prev) >= 6 && len(prev) <= 10 && isSuffixAlphabet(prev):
			return rest[:j] // Deployment: pod-template-hash
		}
		return rest
	}
	return pod
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// suffixAlphabet is the alphabet Kubernetes draws generated name suffixes
// and hashes from (no vowels, no 0, 1 or 3).
var suffixAlphabet = func() (t [256]bool) {
	for _, c := range []byte("bcdfghjklmnpqrstvwxz2456789") {
		t[c] = true
	}
	return t
}()

func isSuffixAlphabet(s string) bool {
	for _, c := range []byte(s) {
		if !suffixAlphabet[c] {
			return false
		}
	}
	return true
}
