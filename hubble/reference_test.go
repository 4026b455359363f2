package hubble

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	jsoniter "github.com/json-iterator/go"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

// The reference decoder: targeted structs for encoding/json (and
// json-iterator, which takes the same structs). It exists to measure the
// scanner against (BenchmarkDecode) and as a second opinion on the real
// captures (TestScannerMatchesReference). Proto-name spellings only.

type refResponse struct {
	Flow     *refFlow  `json:"flow"`
	NodeName string    `json:"node_name"`
	Time     time.Time `json:"time"`
}

type refFlow struct {
	Time             time.Time   `json:"time"`
	Verdict          string      `json:"verdict"`
	DropReasonDesc   string      `json:"drop_reason_desc"`
	IP               *refIP      `json:"IP"`
	L4               *refL4      `json:"l4"`
	Source           refEndpoint `json:"source"`
	Destination      refEndpoint `json:"destination"`
	Type             string      `json:"Type"`
	NodeName         string      `json:"node_name"`
	SourceNames      []string    `json:"source_names"`
	DestinationNames []string    `json:"destination_names"`
	L7               *refL7      `json:"l7"`
	Reply            bool        `json:"reply"`
	IsReply          *bool       `json:"is_reply"`
	EventType        struct {
		Type int `json:"type"`
	} `json:"event_type"`
	TrafficDirection string `json:"traffic_direction"`
}

type refIP struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

type refPorts struct {
	SourcePort      uint16          `json:"source_port"`
	DestinationPort uint16          `json:"destination_port"`
	Flags           map[string]bool `json:"flags"`
}

type refL4 struct {
	TCP, UDP, SCTP *refPorts
	ICMPv4, ICMPv6 *struct {
		Type uint8 `json:"type"`
		Code uint8 `json:"code"`
	}
}

type refEndpoint struct {
	Identity  uint32   `json:"identity"`
	Namespace string   `json:"namespace"`
	Labels    []string `json:"labels"`
	PodName   string   `json:"pod_name"`
	Workloads []struct {
		Name string `json:"name"`
	} `json:"workloads"`
}

type refL7 struct {
	Type string `json:"type"`
	DNS  *struct {
		Query  string   `json:"query"`
		IPs    []string `json:"ips"`
		TTL    uint32   `json:"ttl"`
		RCode  uint32   `json:"rcode"`
		QTypes []string `json:"qtypes"`
	} `json:"dns"`
	HTTP *struct {
		Code   uint32 `json:"code"`
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"http"`
}

func (r *refResponse) toFlow() flow.Flow {
	in := r.Flow
	f := flow.Flow{Time: in.Time, Node: in.NodeName, IsReply: in.Reply, DropReason: in.DropReasonDesc}
	if in.IsReply != nil {
		f.IsReply = *in.IsReply
	}
	f.Verdict = verdict([]byte(in.Verdict), -1)
	switch in.TrafficDirection {
	case "INGRESS":
		f.Direction = flow.DirectionIngress
	case "EGRESS":
		f.Direction = flow.DirectionEgress
	}
	switch in.EventType.Type {
	case 1:
		f.Event = flow.EventDrop
	case 4:
		f.Event = flow.EventTrace
	case 5:
		f.Event = flow.EventPolicyVerdict
	case 129:
		f.Event = flow.EventL7
	}
	ep := func(e refEndpoint, ip string, names []string) flow.Endpoint {
		out := flow.Endpoint{Identity: flow.Identity(e.Identity), Namespace: e.Namespace, Pod: e.PodName, IP: ip, Names: names}
		if len(e.Labels) > 0 {
			out.Labels = flow.NewLabels(e.Labels...)
		}
		if len(e.Workloads) > 0 {
			out.Workload = e.Workloads[0].Name
		}
		NewDecoder().finishEndpoint(&out)
		return out
	}
	var sip, dip string
	if in.IP != nil {
		sip, dip = in.IP.Source, in.IP.Destination
	}
	f.Source = ep(in.Source, sip, in.SourceNames)
	f.Destination = ep(in.Destination, dip, in.DestinationNames)
	if l4 := in.L4; l4 != nil {
		ports := func(p *refPorts, proto flow.Protocol) {
			f.Protocol, f.SrcPort, f.DstPort = proto, p.SourcePort, p.DestinationPort
			var fl []string
			for _, n := range flagNames {
				if p.Flags[n] {
					fl = append(fl, n)
				}
			}
			f.TCPFlags = strings.Join(fl, ",")
		}
		switch {
		case l4.TCP != nil:
			ports(l4.TCP, flow.ProtoTCP)
		case l4.UDP != nil:
			ports(l4.UDP, flow.ProtoUDP)
		case l4.SCTP != nil:
			ports(l4.SCTP, flow.ProtoSCTP)
		case l4.ICMPv4 != nil:
			f.Protocol, f.ICMPType, f.ICMPCode = flow.ProtoICMP, l4.ICMPv4.Type, l4.ICMPv4.Code
		case l4.ICMPv6 != nil:
			f.Protocol, f.ICMPType, f.ICMPCode = flow.ProtoICMPv6, l4.ICMPv6.Type, l4.ICMPv6.Code
		}
	}
	if l7 := in.L7; l7 != nil {
		if f.Event == flow.EventUnknown {
			f.Event = flow.EventL7
		}
		if d := l7.DNS; d != nil {
			f.DNS = &flow.DNS{Query: d.Query, IPs: d.IPs, TTL: d.TTL, RCode: d.RCode, QTypes: d.QTypes, Response: l7.Type == "RESPONSE"}
		}
		if h := l7.HTTP; h != nil {
			host, path := splitURL([]byte(h.URL))
			f.HTTP = &flow.HTTP{Method: h.Method, Host: string(host), Path: string(path), Code: h.Code}
		}
	}
	return f
}

func captureLines(t testing.TB) [][]byte {
	var lines [][]byte
	for _, file := range testenv.HubbleCaptures(t) {
		fh, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
		fh.Close()
	}
	return lines
}

// TestScannerMatchesReference: on every real line, the scanner and
// encoding/json with targeted structs agree on the flow.
func TestScannerMatchesReference(t *testing.T) {
	d := NewDecoder()
	var r Response
	for i, line := range captureLines(t) {
		if err := d.Decode(line, &r); err != nil {
			t.Fatal(err)
		}
		var ref refResponse
		if err := json.Unmarshal(line, &ref); err != nil {
			t.Fatal(err)
		}
		want := ref.toFlow()
		got := r.Flow
		if got.Node != want.Node {
			t.Fatalf("line %d: node %q vs %q", i, got.Node, want.Node)
		}
		// Normalise empty-vs-nil slices, which the scanner shares from caches.
		for _, f := range []*flow.Flow{&got, &want} {
			if f.DNS != nil && len(f.DNS.IPs) == 0 {
				f.DNS.IPs = nil
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d differs:\nscanner   %+v\nreference %+v", i+1, got, want)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchLines(b *testing.B) ([][]byte, int64) {
	lines := captureLines(b)
	var n int64
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	return lines, n
}

// BenchmarkDecode compares the three approaches on the real captures, one
// line per iteration (bytes/s from the average line length).
func BenchmarkDecode(b *testing.B) {
	lines, size := benchLines(b)
	// cpu-ns/line is process CPU time per line, less inflated than ns/op
	// when the machine is shared.
	cpu := func(b *testing.B) func() {
		start := cpuTime()
		return func() { b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/line") }
	}
	b.Run("scanner", func(b *testing.B) {
		defer cpu(b)()
		b.SetBytes(size / int64(len(lines)))
		b.ReportAllocs()
		d := NewDecoder()
		var r Response
		for i := 0; b.Loop(); i++ {
			if err := d.Decode(lines[i%len(lines)], &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		defer cpu(b)()
		b.SetBytes(size / int64(len(lines)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var ref refResponse
			if err := json.Unmarshal(lines[i%len(lines)], &ref); err != nil {
				b.Fatal(err)
			}
			_ = ref.toFlow()
		}
	})
	b.Run("jsoniter", func(b *testing.B) {
		defer cpu(b)()
		api := jsoniter.ConfigCompatibleWithStandardLibrary
		b.SetBytes(size / int64(len(lines)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var ref refResponse
			if err := api.Unmarshal(lines[i%len(lines)], &ref); err != nil {
				b.Fatal(err)
			}
			_ = ref.toFlow()
		}
	})
}
