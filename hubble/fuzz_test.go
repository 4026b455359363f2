package hubble

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeLine: any bytes decode to a response or a *FieldError, never a
// panic; a decoded flow decodes the same way twice, through one decoder
// with warm caches and through a fresh one.
func FuzzDecodeLine(f *testing.F) {
	f.Add([]byte(dropLine))
	f.Add([]byte(`{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"12"},"node_name":"n1"}`))
	f.Add([]byte(`{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["n4"]}}`))
	f.Add([]byte(`{"flow":{"l7":{"type":"RESPONSE","dns":{"query":"a.b.","ips":["192.0.2.1"],"ttl":30}}}}`))
	f.Add([]byte(`{"flow":{"source":{"namespace":"a\u0062\ud83d\ude00","labels":["k8s:a=b","reserved:host"]}}}`))
	f.Add([]byte(`{"time":{"seconds":1700000000,"nanos":5},"verdict":2,"l4":{"ICMPv6":{"type":128}}}`))
	f.Add([]byte("\xff\xfe{"))
	warm := NewDecoder()
	f.Fuzz(func(t *testing.T, line []byte) {
		var r1, r2 Response
		err1 := warm.Decode(line, &r1)
		err2 := NewDecoder().Decode(line, &r2)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("warm decoder: %v, fresh decoder: %v", err1, err2)
		}
		if err1 != nil {
			var fe *FieldError
			if !errors.As(err1, &fe) || fe.Reason == "" || fe.Offset < 0 || fe.Offset > len(line) {
				t.Fatalf("error %T %v", err1, err1)
			}
			return
		}
		if r1.Kind == KindNone {
			t.Fatal("no error and no kind")
		}
		if r1.Kind == KindFlow && !reflect.DeepEqual(r1.Flow, r2.Flow) {
			t.Fatalf("warm and fresh decoders differ:\n%+v\n%+v", r1.Flow, r2.Flow)
		}
	})
}
