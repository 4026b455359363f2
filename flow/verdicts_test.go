package flow

import (
	"encoding/json"
	"strings"
	"testing"
)

// VerdictCounts is written exactly as the map it replaced was (keys by
// name, zero counts and empty sets left out) and read back the same.
func TestVerdictCountsJSON(t *testing.T) {
	var e Edge
	e.Verdicts.Add(VerdictForwarded, 2)
	e.Verdicts.Add(VerdictAudit, 1)
	e.Verdicts.Add(VerdictForwarded, 3)
	b, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	asMap, _ := json.Marshal(map[Verdict]uint64{VerdictForwarded: 5, VerdictAudit: 1})
	if !strings.Contains(string(b), `"verdicts":`+string(asMap)) {
		t.Errorf("edge JSON %s: want verdicts %s", b, asMap)
	}
	var back Edge
	if err := json.Unmarshal(b, &back); err != nil || back.Verdicts != e.Verdicts {
		t.Errorf("read back %+v, %v; want %+v", back.Verdicts, err, e.Verdicts)
	}
	if b, _ := json.Marshal(&Edge{}); strings.Contains(string(b), "verdicts") {
		t.Errorf("empty counts written: %s", b)
	}
	if got := e.Verdicts.Get(VerdictDropped); got != 0 {
		t.Errorf("dropped = %d", got)
	}
}

func TestVerdictCountsUnknown(t *testing.T) {
	line := `{"apiVersion":"posture.dev/v1","kind":"Edge","edge":{"source":{},"destination":{},"protocol":"TCP","port":80,"flows":1,"verdicts":{"bogus":1}}}`
	if _, err := DecodeRecord([]byte(line)); err == nil || !strings.Contains(err.Error(), `verdicts: unknown verdict "bogus"`) {
		t.Errorf("unknown verdict: %v", err)
	}
}
