package flow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Label sources, as Cilium prefixes them ("k8s:app=web").
const (
	SourceK8s      = "k8s"
	SourceReserved = "reserved"
	SourceCIDR     = "cidr"
	SourceFQDN     = "fqdn"
	SourceAny      = "any"
	SourceUnspec   = "unspec"
)

// Well-known label keys Cilium adds to every pod identity.
const (
	LabelNamespace      = "io.kubernetes.pod.namespace"
	LabelServiceAccount = "io.cilium.k8s.policy.serviceaccount"
	LabelCluster        = "io.cilium.k8s.policy.cluster"
	// LabelNamespacePrefix prefixes the labels of a pod's namespace object.
	LabelNamespacePrefix = "io.cilium.k8s.namespace.labels."
)

// Label is one security-relevant label with its source.
type Label struct {
	Source string
	Key    string
	Value  string
}

// ParseLabel reads "source:key=value"; a missing source means "any" and a
// missing "=" an empty value, as Cilium's label parser does. Keys may contain
// ':' themselves (Cilium only treats the text before the first ':' as the
// source when it is a known source name).
func ParseLabel(s string) Label {
	src := SourceAny
	if i := strings.IndexByte(s, ':'); i >= 0 && isSource(s[:i]) {
		src, s = s[:i], s[i+1:]
	}
	k, v, _ := strings.Cut(s, "=")
	return Label{Source: src, Key: k, Value: v}
}

func isSource(s string) bool {
	switch s {
	case SourceK8s, SourceReserved, SourceCIDR, SourceFQDN, SourceAny, SourceUnspec,
		"container", "cilium-generated", "kvstore", "node", "cni":
		return true
	}
	return false
}

// String renders the label as Hubble prints it.
func (l Label) String() string {
	if l.Value == "" && l.Source == SourceReserved {
		return l.Source + ":" + l.Key
	}
	return l.Source + ":" + l.Key + "=" + l.Value
}

// Labels is a sorted, duplicate-free label list.
type Labels []Label

// NewLabels parses and sorts Hubble-style label strings.
func NewLabels(ss ...string) Labels {
	ls := make(Labels, 0, len(ss))
	for _, s := range ss {
		ls = append(ls, ParseLabel(s))
	}
	ls.Sort()
	return ls
}

// Sort orders labels by key, then source, then value, and drops duplicates.
func (ls *Labels) Sort() {
	slices.SortFunc(*ls, compareLabels)
	*ls = slices.Compact(*ls)
}

// IsSorted reports whether Sort would leave ls as it is.
func (ls Labels) IsSorted() bool {
	for i := 1; i < len(ls); i++ {
		if compareLabels(ls[i-1], ls[i]) >= 0 {
			return false
		}
	}
	return true
}

func compareLabels(a, b Label) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

// Get returns the value of key from any source, and whether it is present.
func (ls Labels) Get(key string) (string, bool) {
	for _, l := range ls {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

// Has reports whether a label with this source and key exists.
func (ls Labels) Has(source, key string) bool {
	for _, l := range ls {
		if l.Key == key && (source == SourceAny || l.Source == source) {
			return true
		}
	}
	return false
}

// Strings renders the labels as Hubble prints them.
func (ls Labels) Strings() []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// Key is a canonical single-string form, usable as a map key.
func (ls Labels) Key() string { return string(ls.AppendKey(nil)) }

// AppendKey appends Key's form to b, for keys built in a caller's buffer.
func (ls Labels) AppendKey(b []byte) []byte {
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, l.Source...), ':'), l.Key...)
		if l.Value != "" || l.Source != SourceReserved {
			b = append(append(b, '='), l.Value...)
		}
	}
	return b
}

// Equal reports whether two sorted label lists are identical.
func (ls Labels) Equal(o Labels) bool { return slices.Equal(ls, o) }

// MarshalJSON writes labels as Hubble's string array.
func (ls Labels) MarshalJSON() ([]byte, error) { return json.Marshal(ls.Strings()) }

// UnmarshalJSON reads Hubble's string array.
func (ls *Labels) UnmarshalJSON(b []byte) error {
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	*ls = NewLabels(ss...)
	return nil
}
