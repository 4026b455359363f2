package evidence

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

func captures(t testing.TB) []byte {
	t.Helper()
	var all []byte
	for _, f := range testenv.HubbleCaptures(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func checkAccounting(t *testing.T, st Stats) {
	t.Helper()
	if sum := st.Blank + st.Flows + st.Replies + st.Edges + st.NonFlow + st.Malformed; sum != st.Lines {
		t.Errorf("lines %d but blank+flows+replies+edges+nonflow+malformed = %d (%+v)", st.Lines, sum, st)
	}
}

// The same evidence read from a directory, stdin, gzip, and as posture
// JSONL written by summarize -o json must give the same edges.
func TestLoadEdgesSources(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(testenv.SharedDir(t), "testdata", "hubble")
	want, st, err := LoadEdges(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkAccounting(t, st)
	if st.Files != 3 || st.Lines != 688 || st.Replies != 343 || st.Flows != 345 || st.Malformed != 0 || len(want) == 0 {
		t.Fatalf("stats %+v, %d edges", st, len(want))
	}

	all := captures(t)
	got, _, err := LoadEdges(ctx, "-", bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("stdin and directory give different edges")
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(all)
	zw.Close()
	gzFile := filepath.Join(t.TempDir(), "export.json.gz")
	if err := os.WriteFile(gzFile, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err = LoadEdges(ctx, gzFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("gzip and plain give different edges")
	}

	var jsonl bytes.Buffer
	w := flow.NewWriter(&jsonl)
	for i := range want {
		w.WriteEdge(&want[i])
	}
	w.Flush()
	got, st2, err := LoadEdges(ctx, "-", &jsonl)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Edges != len(want) || st2.PostureLines != len(want) {
		t.Errorf("JSONL stats %+v", st2)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range got {
			if i < len(want) && !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("edge %d after JSONL round trip:\n got %+v\nwant %+v", i, got[i], want[i])
				break
			}
		}
		t.Error("JSONL round trip changes edges")
	}
}

func TestScanItems(t *testing.T) {
	var flows, replies int
	var kept []*flow.Flow
	st, err := Scan(context.Background(), "-", bytes.NewReader(captures(t)), func(it Item) error {
		if it.Flow == nil || it.Line == 0 || it.Source != "-" {
			t.Fatalf("bad item %+v", it)
		}
		if it.Flow.IsReply {
			replies++
		} else {
			flows++
		}
		kept = append(kept, it.Flow)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if flows != st.Flows || replies != st.Replies {
		t.Errorf("items %d+%d, stats %+v", flows, replies, st)
	}
	// Items are fresh: the first kept flow is still the first line's.
	if kept[0].Source.Pod != "reviews-v1-545db77b95-s6jb8" || kept[0].SrcPort != 15020 {
		t.Errorf("item reused: %+v", kept[0])
	}
	stop := errors.New("stop")
	_, err = Scan(context.Background(), "-", bytes.NewReader(captures(t)), func(Item) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("callback error not returned: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	good := strings.SplitN(string(captures(t)), "\n", 2)[0]
	lines := []string{
		good,
		good[:len(good)/2], // truncated
		"{\"flow\":{\"source\":{\"pod_name\":\"\xff\"}}}",                            // invalid UTF-8
		`{"flow":{"l4":{"TCP":{"destination_port":"x"}}}}`,                           // wrong type
		`{"apiVersion":"posture.dev/v1","kind":"Edge","edge":{"flows":1},"extra":1}`, // unknown posture field
		`{"flow":{"future_field":[1,{"a":2}]}}`,                                      // unknown Hubble field: fine
		"",
		"   ",
		"\x00\x01\x02\x03garbage",
		`{"lost_events":{"num_events_lost":"7"}}`,
		`{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["node-b"]}}`,
		"{\"flow\":{\"Summary\":\"" + strings.Repeat("x", flow.MaxLineBytes) + "\"}}", // over 1 MiB
		good,
	}
	in := strings.Join(lines, "\n") + "\n"
	st, err := Scan(context.Background(), "-", strings.NewReader(in), func(Item) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	checkAccounting(t, st)
	if st.Lines != 13 || st.Malformed != 6 || st.Blank != 2 || st.Flows != 1 || st.Replies != 2 || st.NonFlow != 2 || st.LostEvents != 7 {
		t.Errorf("stats %+v", st)
	}
	if st.FirstMalformed == nil || st.FirstMalformed.Line != 2 || st.FirstMalformed.Source != "-" {
		t.Errorf("first malformed %v", st.FirstMalformed)
	}
	if len(st.UnavailableNodes) != 1 || st.UnavailableNodes[0] != "node-b" {
		t.Errorf("unavailable nodes %v", st.UnavailableNodes)
	}

	_, err = ScanWith(context.Background(), "-", strings.NewReader(in), Options{Strict: true}, func(Item) error { return nil })
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(le.Error(), "-:2: field flow") {
		t.Errorf("strict: %v", err)
	}

	// Posture JSONL stays strict about unknown fields.
	_, err = ScanWith(context.Background(), "-", strings.NewReader(lines[4]), Options{Strict: true}, func(Item) error { return nil })
	if !errors.As(err, &le) || !strings.Contains(le.Reason, "unknown field") {
		t.Errorf("posture unknown field: %v", err)
	}

	empty := filepath.Join(t.TempDir(), "empty.json")
	os.WriteFile(empty, nil, 0o644)
	st, err = Scan(context.Background(), empty, nil, func(Item) error { return nil })
	if err != nil || st.Lines != 0 || len(st.EmptyFiles) != 1 {
		t.Errorf("empty file: %v %+v", err, st)
	}
	if _, err := Scan(context.Background(), filepath.Join(t.TempDir(), "missing"), nil, func(Item) error { return nil }); err == nil {
		t.Error("missing file: no error")
	}
}

// The aggregator's shared-slice fast path finds the same edges as the
// full key: Scan hands out copies, aggregated here without it.
func TestFastPathSameEdges(t *testing.T) {
	all := captures(t)
	want := flow.NewAggregator()
	_, err := Scan(context.Background(), "-", bytes.NewReader(all), func(it Item) error {
		if it.Flow != nil {
			want.Observe(it.Flow, it.Counts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := LoadEdges(context.Background(), "-", bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want.Edges()) {
		t.Error("fast path changes edges")
	}
}

func TestLineEndings(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(captures(t))), "\n")[:4]
	for name, in := range map[string]string{
		"CRLF":               strings.Join(lines, "\r\n") + "\r\n",
		"no final newline":   strings.Join(lines, "\n"),
		"blank lines around": "\n\n" + strings.Join(lines, "\n\n") + "\n\n",
	} {
		st, err := Scan(context.Background(), "-", strings.NewReader(in), func(Item) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		checkAccounting(t, st)
		if st.Flows+st.Replies != 4 || st.Malformed != 0 {
			t.Errorf("%s: %+v", name, st)
		}
	}
}
