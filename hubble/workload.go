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
	parts := strings.Split(pod, "-")
	n := len(parts)
	if n < 2 {
		return pod
	}
	last := parts[n-1]
	switch {
	case isDigits(last) && len(last) < 8:
		return strings.Join(parts[:n-1], "-") // StatefulSet ordinal
	case len(last) == 5 && isSuffixAlphabet(last):
		n--
		if n >= 2 {
			prev := parts[n-1]
			switch {
			case isDigits(prev) && len(prev) >= 8:
				n-- // CronJob: minutes since the epoch
			case len(prev) >= 6 && len(prev) <= 10 && isSuffixAlphabet(prev):
				n-- // Deployment: pod-template-hash
			}
		}
		return strings.Join(parts[:n], "-")
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

// isSuffixAlphabet reports whether s uses only the characters Kubernetes
// draws generated names and hashes from (no vowels, no 0, 1 or 3).
func isSuffixAlphabet(s string) bool {
	for _, c := range []byte(s) {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(c)) {
			return false
		}
	}
	return true
}
