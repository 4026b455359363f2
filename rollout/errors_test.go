package rollout

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestClusterErrorUnreachable pins the outage wording for the ways client-go
// reports a server that went away, including one that dies mid-response
// (seen in CI: "unexpected error when reading response body ... unexpected EOF").
func TestClusterErrorUnreachable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("unexpected error when reading response body. Please retry. Original error: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("read: %w", io.EOF),
		errors.New("dial tcp 127.0.0.1:1: connect: connection refused"),
	} {
		got := clusterError("applying ciliumnetworkpolicy ns/p", err).Error()
		if !strings.Contains(got, "cannot reach the API server") {
			t.Errorf("%v: got %q, want the unreachable wording", err, got)
		}
	}
	if got := clusterError("x", errors.New("boom")).Error(); strings.Contains(got, "cannot reach") {
		t.Errorf("plain error classified as unreachable: %q", got)
	}
}
