package rollout

import (
	"testing"
)

// FuzzDecodeState feeds arbitrary ConfigMap contents to the state decoder:
// it must return a state or an error naming the ConfigMap, never panic,
// and a decoded state must encode and decode to the same stage.
func FuzzDecodeState(f *testing.F) {
	f.Add(`{"namespace":"ns","stage":"narrow","workloads":{"api":{"stage":"enforce","enforced":{"ingress":true,"egress":false},"since":"2026-11-20T12:00:00Z"}}}`)
	f.Add(`{"stage":"done","history":[{"time":"2026-11-20T12:00:00Z","from":"l7","to":"done","actor":"a","reason":"r"}]}`)
	f.Add(`{"stage":"baseline","operation":{"kind":"promote","actor":"a","holder":"h","started":"2026-11-20T12:00:00Z","target":{"stage":"platform"},"previous":{"stage":"baseline"}}}`)
	f.Add(`{"stage":7}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, data string) {
		s, err := decodeState("ns", data)
		if err != nil {
			return
		}
		if s.Namespace != "ns" || s.Stage < StageObserve || s.Stage > StageDone {
			t.Fatalf("decoded an invalid state: %+v", s)
		}
		enc, err := encodeState(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeState("ns", enc)
		if err != nil || s2.Stage != s.Stage || len(s2.History) != len(s.History) {
			t.Fatalf("round trip: %v %+v", err, s2)
		}
	})
}
