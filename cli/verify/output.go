package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

type row struct {
	item   *evidence.Item
	flow   *flow.Flow
	weight uint64
	result policy.Result
}

type writer interface {
	write(r row) error
	flush() error
}

type tableWriter struct{ tw *tabwriter.Writer }

func newTableWriter(w io.Writer) *tableWriter {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tDESTINATION\tPORT\tCOUNT\tEGRESS\tINGRESS\tVERDICT\tRULE / REASON")
	return &tableWriter{tw: tw}
}

func (t *tableWriter) write(r row) error {
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n",
		endpointName(&r.flow.Source), endpointName(&r.flow.Destination), portName(r.flow), r.weight,
		r.result.Egress.Decision, r.result.Ingress.Decision, r.result.Verdict, explain(r.result))
	return err
}

func (t *tableWriter) flush() error { return t.tw.Flush() }

type jsonWriter struct{ enc *json.Encoder }

func newJSONWriter(w io.Writer) *jsonWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonWriter{enc: enc}
}

// jsonRow is one flow's verdict in -o json output.
type jsonRow struct {
	Source      string                 `json:"source"`
	Destination string                 `json:"destination"`
	Protocol    flow.Protocol          `json:"protocol,omitempty"`
	Port        uint16                 `json:"port"`
	Count       uint64                 `json:"count"`
	File        string                 `json:"file,omitempty"`
	Line        int                    `json:"line,omitempty"`
	Verdict     policy.Decision        `json:"verdict"`
	Egress      policy.DirectionResult `json:"egress"`
	Ingress     policy.DirectionResult `json:"ingress"`
	Rules       []string               `json:"rules,omitempty"`
	Reason      string                 `json:"reason"`
}

func (j *jsonWriter) write(r row) error {
	jr := jsonRow{
		Source:      endpointName(&r.flow.Source),
		Destination: endpointName(&r.flow.Destination),
		Protocol:    r.flow.Protocol,
		Port:        r.flow.Port(),
		Count:       r.weight,
		File:        r.item.Source,
		Line:        r.item.Line,
		Verdict:     r.result.Verdict,
		Egress:      r.result.Egress,
		Ingress:     r.result.Ingress,
		Reason:      explain(r.result),
	}
	for _, d := range deciding(r.result) {
		for _, rr := range d.Rules {
			jr.Rules = append(jr.Rules, rr.String())
		}
	}
	return j.enc.Encode(jr)
}

func (j *jsonWriter) flush() error { return nil }

// deciding returns the direction results that decided the verdict: the
// denying ones for a denied flow, otherwise both.
func deciding(r policy.Result) []policy.DirectionResult {
	if r.Verdict.Allows() {
		return []policy.DirectionResult{r.Egress, r.Ingress}
	}
	var out []policy.DirectionResult
	for _, d := range []policy.DirectionResult{r.Egress, r.Ingress} {
		if !d.Decision.Allows() {
			out = append(out, d)
		}
	}
	return out
}

// explain says in one line which rules or which reason decided the flow.
func explain(r policy.Result) string {
	var parts []string
	add := func(dir string, d policy.DirectionResult) {
		if r.Verdict.Allows() == d.Decision.Allows() && d.Decision != policy.NotSelected {
			if len(d.Rules) > 0 && d.Decision != policy.DefaultDenied {
				names := make([]string, len(d.Rules))
				for i, rr := range d.Rules {
					names[i] = rr.String()
				}
				parts = append(parts, dir+": "+strings.Join(names, ", "))
			} else {
				parts = append(parts, dir+": "+d.Reason)
			}
		}
	}
	if r.Egress.Reason == r.Ingress.Reason && len(r.Egress.Rules)+len(r.Ingress.Rules) == 0 {
		return r.Egress.Reason
	}
	add("egress", r.Egress)
	add("ingress", r.Ingress)
	if len(parts) == 0 {
		if r.Egress.Reason == r.Ingress.Reason {
			return r.Egress.Reason
		}
		return "no policy selects either end"
	}
	return strings.Join(parts, "; ")
}

// endpointName is a short human name: ns/pod, ns/workload, ns/app label,
// a reserved entity, or the address with its DNS name.
func endpointName(e *flow.Endpoint) string {
	switch {
	case (e.Pod != "" || e.Workload != "") && !e.IsPod():
		// Hubble names a pod whose address resolved to a reserved
		// identity (a stale IP cache entry); the identity is what counts.
		n := e.Identity.ReservedName()
		if n == "" {
			n = "identity " + strconv.FormatUint(uint64(e.Identity), 10)
		}
		return e.String() + " [" + n + "]"
	case e.Pod != "" || e.Workload != "":
		return e.String()
	case e.IsPod():
		for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app", "name"} {
			if v, ok := e.Labels.Get(k); ok {
				return e.Namespace + "/" + k + "=" + v
			}
		}
		return e.Namespace + "/*"
	}
	s := e.String()
	if len(e.Names) > 0 {
		if e.IP != "" {
			return e.Names[0] + " (" + e.IP + ")"
		}
		return e.Names[0]
	}
	return s
}

func portName(f *flow.Flow) string {
	switch f.Protocol {
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return string(f.Protocol) + " type " + strconv.Itoa(int(f.ICMPType))
	case "", flow.ProtoAny:
		return "-"
	}
	return strconv.Itoa(int(f.DstPort)) + "/" + string(f.Protocol)
}
