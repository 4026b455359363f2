package flow

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// APIVersion tags every line of posture's JSONL evidence format.
const APIVersion = "posture.dev/v1"

// Record kinds in the JSONL format.
const (
	KindFlow = "Flow"
	KindEdge = "Edge"
)

// Record is one line of posture's JSONL evidence format:
//
//	{"apiVersion":"posture.dev/v1","kind":"Edge","edge":{...}}
//	{"apiVersion":"posture.dev/v1","kind":"Flow","flow":{...}}
//
// The node agent, Hubble ingestion and the advisor all speak it.
type Record struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Flow       *Flow  `json:"flow,omitempty"`
	Edge       *Edge  `json:"edge,omitempty"`
}

// Writer writes records as JSON lines.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewWriter buffers output; call Flush when done.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// WriteEdge writes one edge line.
func (w *Writer) WriteEdge(e *Edge) error {
	return w.enc.Encode(Record{APIVersion: APIVersion, Kind: KindEdge, Edge: e})
}

// WriteFlow writes one flow line.
func (w *Writer) WriteFlow(f *Flow) error {
	return w.enc.Encode(Record{APIVersion: APIVersion, Kind: KindFlow, Flow: f})
}

// Flush writes buffered lines out.
func (w *Writer) Flush() error { return w.w.Flush() }

// MaxLineBytes bounds one JSONL line; longer lines are rejected, not read
// into memory.
const MaxLineBytes = 1 << 20

// ErrLineTooLong is returned for lines over MaxLineBytes.
var ErrLineTooLong = errors.New("line longer than 1 MiB")

// DecodeRecord parses one JSONL line, rejecting unknown fields, a wrong
// apiVersion and a kind without its body.
func DecodeRecord(line []byte) (*Record, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON object")
	}
	if r.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion %q, want %q", r.APIVersion, APIVersion)
	}
	switch r.Kind {
	case KindFlow:
		if r.Flow == nil {
			return nil, errors.New(`kind Flow without "flow"`)
		}
	case KindEdge:
		if r.Edge == nil {
			return nil, errors.New(`kind Edge without "edge"`)
		}
	default:
		return nil, fmt.Errorf("unknown kind %q", r.Kind)
	}
	return &r, nil
}
