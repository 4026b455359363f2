package flow

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/posture-dev/posture/internal/testenv"
)

func TestIdentityRelevant(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"app", true},
		{"app.kubernetes.io/name", true},
		{"role", true},
		{"k8s-app", true},
		{"io.kubernetes.pod.namespace", true},
		{"io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name", true},
		{"pod-template-hash", false},
		{"controller-revision-hash", false},
		{"pod-template-generation", false},
		{"statefulset.kubernetes.io/pod-name", false},
		{"apps.kubernetes.io/pod-index", false},
		{"batch.kubernetes.io/controller-uid", false},
		{"batch.kubernetes.io/job-completion-index", false},
		{"controller-uid", false},
		{"kubernetes.io/metadata.name", false},
		{"io.kubernetes.container.name", false},
		{"beta.kubernetes.io/arch", false},
		{"k8s.io/foo", false},
		{"annotation.foo", false},
		{"etcd_node", false},
	} {
		if got := IdentityRelevant(tc.key); got != tc.want {
			t.Errorf("IdentityRelevant(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestIdentityLabels(t *testing.T) {
	got := PodIdentity{
		Namespace:      "shop",
		ServiceAccount: "web",
		Cluster:        "default",
		PodLabels: map[string]string{
			"app": "web", "pod-template-hash": "5d9c7", "controller-revision-hash": "x",
		},
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "shop", "team": "a"},
	}.IdentityLabels()
	want := NewLabels(
		"k8s:app=web",
		"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
		"k8s:io.cilium.k8s.namespace.labels.team=a",
		"k8s:io.cilium.k8s.policy.cluster=default",
		"k8s:io.cilium.k8s.policy.serviceaccount=web",
		"k8s:io.kubernetes.pod.namespace=shop",
	)
	if !got.Equal(want) {
		t.Fatalf("IdentityLabels:\n got %v\nwant %v", got.Strings(), want.Strings())
	}
}

// TestCaptureLabelsAreIdentityRelevant checks the filter against identities
// Cilium really computed: every k8s label in a Hubble capture is one Cilium
// kept, so the filter must keep it too, and every pod identity carries the
// namespace label.
func TestCaptureLabelsAreIdentityRelevant(t *testing.T) {
	seen := 0
	for _, file := range testenv.HubbleCaptures(t) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Flow struct {
					Source, Destination struct {
						Namespace string   `json:"namespace"`
						Labels    []string `json:"labels"`
					}
				} `json:"flow"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, ep := range []struct {
				Namespace string   `json:"namespace"`
				Labels    []string `json:"labels"`
			}{line.Flow.Source, line.Flow.Destination} {
				ls := NewLabels(ep.Labels...)
				for _, l := range ls {
					if l.Source == SourceK8s && !IdentityRelevant(l.Key) {
						t.Errorf("%s: Cilium kept %q, the filter drops it", file, l)
					}
					if l.Source == SourceReserved {
						if _, ok := ReservedIdentity(l.Key); !ok {
							t.Errorf("%s: unknown reserved label %q", file, l)
						}
					}
					seen++
				}
				if ep.Namespace != "" && !ls.Has(SourceReserved, "world") {
					if ns, _ := ls.Get(LabelNamespace); ns != ep.Namespace {
						t.Errorf("%s: namespace %q but label %q", file, ep.Namespace, ns)
					}
				}
			}
		}
		f.Close()
	}
	if seen < 1000 {
		t.Fatalf("only %d labels checked; captures changed?", seen)
	}
}

func TestParseLabel(t *testing.T) {
	for in, want := range map[string]Label{
		"k8s:app=web":       {SourceK8s, "app", "web"},
		"reserved:host":     {SourceReserved, "host", ""},
		"app=web":           {SourceAny, "app", "web"},
		"cidr:10.0.0.0/8":   {SourceCIDR, "10.0.0.0/8", ""},
		"fqdn:*.github.com": {SourceFQDN, "*.github.com", ""},
		"k8s:io.cilium.k8s.namespace.labels.a/b=c": {SourceK8s, "io.cilium.k8s.namespace.labels.a/b", "c"},
	} {
		if got := ParseLabel(in); got != want {
			t.Errorf("ParseLabel(%q) = %+v, want %+v", in, got, want)
		}
	}
}
