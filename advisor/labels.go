package advisor

import (
	"regexp"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// preferredKeys name workloads, best first; a workload's selector is built
// from these when they suffice.
var preferredKeys = []string{
	"app.kubernetes.io/name", "app", "k8s-app", "name", "component", "role", "tier",
}

// unstableKeys change per pod, per rollout revision or per job run; a
// selector using them would stop matching at the next deploy or run. Most
// are outside Cilium's default identity labels already; job-name is not,
// which is why every CronJob run gets a fresh identity.
var unstableKeys = map[string]bool{
	"pod-template-hash":                        true,
	"controller-revision-hash":                 true,
	"pod-template-generation":                  true,
	"job-name":                                 true,
	"batch.kubernetes.io/job-name":             true,
	"controller-uid":                           true,
	"batch.kubernetes.io/controller-uid":       true,
	"batch.kubernetes.io/job-completion-index": true,
	"statefulset.kubernetes.io/pod-name":       true,
	"apps.kubernetes.io/pod-index":             true,
}

// lateKeys are stable today but change with releases; they are only used
// when nothing else tells identities apart.
var lateKeys = map[string]bool{
	"app.kubernetes.io/version": true,
	"helm.sh/chart":             true,
	"chart":                     true,
	"version":                   true,
	"heritage":                  true,
}

// keyRank orders candidate selector keys: preferred keys first, then the
// service account, then other keys, then release-bound keys.
func keyRank(key string) int {
	for i, k := range preferredKeys {
		if k == key {
			return i
		}
	}
	switch {
	case key == flow.LabelServiceAccount:
		return 100
	case lateKeys[key]:
		return 300
	}
	return 200
}

// selectable reports whether a label may appear in a workload selector.
// Namespace-wide labels (namespace, namespace labels, cluster) never tell
// identities of one namespace apart.
func selectable(l flow.Label) bool {
	if l.Source != flow.SourceK8s && l.Source != flow.SourceAny && l.Source != flow.SourceUnspec {
		return false
	}
	switch {
	case l.Key == flow.LabelNamespace, l.Key == flow.LabelCluster,
		strings.HasPrefix(l.Key, flow.LabelNamespacePrefix):
		return false
	}
	return !unstableKeys[l.Key] && validLabelKey(l.Key) && validLabelValue(l.Value)
}

// labelName is a Kubernetes label name (the part after an optional prefix).
var labelName = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// validLabelKey accepts what a Kubernetes label selector accepts; evidence
// may carry anything, and a selector on an invalid key would be rejected.
func validLabelKey(k string) bool {
	prefix, name, ok := strings.Cut(k, "/")
	if !ok {
		return labelName.MatchString(k)
	}
	return prefix != "" && len(prefix) <= 253 && dnsSubdomain.MatchString(prefix) && labelName.MatchString(name)
}

var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func validLabelValue(v string) bool { return v == "" || labelName.MatchString(v) }

// perRunValue reports whether a label value names one pod or run rather
// than a workload: it equals a pod name or is a pod name's prefix ending at
// a '-' (job-name=backup-2891 on pod backup-2891-x7k2p).
func perRunValue(value string, pods []string) bool {
	if value == "" {
		return false
	}
	for _, p := range pods {
		if p == value || strings.HasPrefix(p, value+"-") && strings.Count(p[len(value):], "-") == 1 {
			return true
		}
	}
	return false
}

// dnsLabelValues identify a cluster DNS server by its labels, across
// distributions (kube-dns, CoreDNS, NodeLocal DNSCache, OpenShift).
var dnsLabelValues = map[string]bool{
	"kube-dns": true, "coredns": true, "node-local-dns": true, "nodelocaldns": true,
	"dns-default": true, "rke2-coredns": true,
}

// sanitizeName turns a label value into a DNS-1123 label fragment.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if len(out) > 50 {
		out = strings.TrimRight(out[:50], "-")
	}
	if out == "" {
		out = "unlabelled"
	}
	return out
}
