package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
)

// verdictOrder lists the verdicts by name, the order a JSON object of
// them has always been written in.
var verdictOrder = [...]Verdict{VerdictUnknown, VerdictAudit, VerdictDropped, VerdictError, VerdictForwarded, VerdictRedirected}

// VerdictCounts counts an edge's flows by verdict, one fixed slot per
// verdict. It replaced a map: an edge list of a million edges held a map
// each, some 250 bytes apiece, where these are 48 bytes inline.
type VerdictCounts [len(verdictOrder)]uint64

func verdictSlot(v Verdict) (int, bool) {
	for i, w := range verdictOrder {
		if w == v {
			return i, true
		}
	}
	return 0, false
}

// Get is the count of flows with verdict v.
func (c *VerdictCounts) Get(v Verdict) uint64 {
	if i, ok := verdictSlot(v); ok {
		return c[i]
	}
	return 0
}

// Add counts n more flows with verdict v; verdicts posture does not know
// are counted as unknown.
func (c *VerdictCounts) Add(v Verdict, n uint64) {
	i, _ := verdictSlot(v)
	c[i] += n
}

// IsZero reports whether no flow is counted (and makes `omitzero` leave
// the field out, as `omitempty` left out an empty map).
func (c VerdictCounts) IsZero() bool { return c == VerdictCounts{} }

// All yields the verdicts with flows, by name.
func (c *VerdictCounts) All() iter.Seq2[Verdict, uint64] {
	return func(yield func(Verdict, uint64) bool) {
		for i, n := range c {
			if n > 0 && !yield(verdictOrder[i], n) {
				return
			}
		}
	}
}

// MarshalJSON writes the object a map of verdict to count was written as.
func (c VerdictCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for v, n := range c.All() {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, string(v))
		b = append(b, ':')
		b = strconv.AppendUint(b, n, 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads an object of verdict names to counts; a name
// posture does not know is an error rather than a count silently moved.
func (c *VerdictCounts) UnmarshalJSON(b []byte) error {
	*c = VerdictCounts{}
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var m map[Verdict]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for v, n := range m {
		i, ok := verdictSlot(v)
		if !ok {
			return fmt.Errorf("verdicts: unknown verdict %q (want one of forwarded, dropped, audit, redirected, error)", v)
		}
		c[i] += n
	}
	return nil
}
