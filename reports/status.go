package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/posture-dev/posture/rollout"
)

// maxStatusBytes bounds a status file; a 20,000-workload cluster with a
// week of samples is a few MB.
const maxStatusBytes = 256 << 20

// ReadStatus decodes a rollout.Status JSON document (as written by
// "posture rollout status -o json"); errors name the file, the line and
// column, and the field.
func ReadStatus(name string, r io.Reader) (*rollout.Status, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStatusBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxStatusBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, maxStatusBytes>>20)
	}
	var st rollout.Status
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&st); err != nil {
		return nil, statusError(name, data, err)
	}
	if dec.More() {
		off := dec.InputOffset()
		for off < int64(len(data)) && strings.ContainsRune(" \t\r\n", rune(data[off])) {
			off++
		}
		return nil, fmt.Errorf("%s:%s: unexpected data after the status document", name, position(data, off))
	}
	if st.GeneratedAt.IsZero() {
		return nil, fmt.Errorf("%s: field generatedAt: missing (is this a rollout status document?)", name)
	}
	for i := range st.Namespaces {
		if st.Namespaces[i].Namespace == "" {
			return nil, fmt.Errorf("%s: field namespaces[%d].namespace: missing", name, i)
		}
	}
	return &st, nil
}

func statusError(name string, data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the offending byte; point at it.
		return fmt.Errorf("%s:%s: %v", name, position(data, syn.Offset-1), syn)
	case errors.As(err, &typ):
		return fmt.Errorf("%s:%s: field %s: cannot use JSON %s as %s", name, position(data, typ.Offset), typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%s: empty status document", name)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s:%s: status document ends early", name, position(data, int64(len(data))))
	default:
		// Errors from UnmarshalText (an unknown stage name) and time parsing.
		return fmt.Errorf("%s: %w", name, err)
	}
}

// position turns a byte offset into "line:column" (both from 1).
func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("%d:%d", line, col)
}

// ratio keeps a share inside 0..1 so a rollout engine's 0/0 does not turn
// into a report that its own schema rejects.
func ratio(f float64) float64 {
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return min(f, 1)
}
