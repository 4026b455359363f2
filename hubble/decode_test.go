package hubble

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testenv"
)

// A GetFlowsResponse as `hubble observe -o jsonpb` prints it, trimmed from
// the shared captures' shape, with fields the captures lack (drop reason,
// policy matches, workloads, ICMP, names).
const dropLine = `{"flow":{"time":"2024-03-01T10:00:00.5Z","verdict":"DROPPED","drop_reason":133,"drop_reason_desc":"POLICY_DENIED",` +
	`"IP":{"source":"10.0.0.5","destination":"1.1.1.1","ipVersion":"IPv4"},"l4":{"ICMPv4":{"type":8}},` +
	`"source":{"ID":12,"identity":4242,"namespace":"shop","labels":["k8s:app=web","k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"web-5d9c7b8f6d-abcde","workloads":[{"name":"web-frontend","kind":"Deployment"}]},` +
	`"destination":{"identity":16777217,"labels":["cidr:1.1.1.1/32","reserved:world"]},"Type":"L3_L4","node_name":"n1",` +
	`"destination_names":["one.one.one.one"],"event_type":{"type":5},"traffic_direction":"EGRESS","is_reply":false,` +
	`"egress_denied_by":[{"name":"deny-dns","namespace":"shop","kind":"CiliumNetworkPolicy"}],"some_future_field":{"x":[1,2,{"y":null}]}},` +
	`"node_name":"n1","time":"2024-03-01T10:00:00.5Z"}`

func TestDecodeFields(t *testing.T) {
	r, err := DecodeLine([]byte(dropLine))
	if err != nil {
		t.Fatal(err)
	}
	f := r.Flow
	if r.Kind != KindFlow || f.Verdict != flow.VerdictDropped || f.DropReason != "POLICY_DENIED" {
		t.Errorf("kind %v verdict %q reason %q", r.Kind, f.Verdict, f.DropReason)
	}
	if want := time.Date(2024, 3, 1, 10, 0, 0, 5e8, time.UTC); !f.Time.Equal(want) {
		t.Errorf("time %v, want %v", f.Time, want)
	}
	if f.Protocol != flow.ProtoICMP || f.ICMPType != 8 || f.Port() != 8 {
		t.Errorf("l4 %q type %d", f.Protocol, f.ICMPType)
	}
	if f.Event != flow.EventPolicyVerdict || f.Direction != flow.DirectionEgress || f.IsReply {
		t.Errorf("event %q direction %q reply %v", f.Event, f.Direction, f.IsReply)
	}
	if f.Source.Identity != 4242 || f.Source.Namespace != "shop" || f.Source.Pod != "web-5d9c7b8f6d-abcde" ||
		f.Source.Workload != "web-frontend" || f.Source.IP != "10.0.0.5" || !f.Source.IsPod() {
		t.Errorf("source %+v", f.Source)
	}
	if got := f.Destination.Labels.Strings(); strings.Join(got, " ") != "cidr:1.1.1.1/32= reserved:world" {
		t.Errorf("destination labels %q", got)
	}
	if f.Destination.Identity != 16777217 || f.Destination.IsPod() || len(f.Destination.Names) != 1 || f.Destination.Names[0] != "one.one.one.one" {
		t.Errorf("destination %+v", f.Destination)
	}
	if len(f.PolicyMatches) != 1 || f.PolicyMatches[0] != "egress-denied:shop/deny-dns" {
		t.Errorf("policy matches %q", f.PolicyMatches)
	}
	if f.Node != "n1" {
		t.Errorf("node %q", f.Node)
	}
}

func TestDecodeShapes(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		kind       Kind
		check      func(*testing.T, *Response)
	}{
		{"bare flow (-o json)", `{"time":"2024-03-01T10:00:00Z","verdict":"FORWARDED","IP":{"source":"10.0.0.1","destination":"10.0.0.2"},` +
			`"l4":{"UDP":{"source_port":40000,"destination_port":53}},"source":{"identity":1},"destination":{"identity":300,"namespace":"kube-system","pod_name":"coredns-0"},"node_name":"n2"}`,
			KindFlow, func(t *testing.T, r *Response) {
				if r.Flow.Protocol != flow.ProtoUDP || r.Flow.DstPort != 53 || r.Flow.Node != "n2" || r.Flow.Destination.Workload != "coredns" {
					t.Errorf("%+v", r.Flow)
				}
				if !r.Flow.Source.Labels.Has(flow.SourceReserved, "host") {
					t.Errorf("reserved identity without labels should get reserved:host, got %v", r.Flow.Source.Labels)
				}
			}},
		{"lowerCamel protojson", `{"flow":{"verdict":2,"trafficDirection":"INGRESS","isReply":true,"reply":false,"l4":{"TCP":{"sourcePort":1,"destinationPort":2,"flags":{"SYN":true,"ACK":true}}},"dropReasonDesc":"POLICY_DENIED"},"nodeName":"n3"}`,
			KindFlow, func(t *testing.T, r *Response) {
				f := r.Flow
				if f.Verdict != flow.VerdictDropped || f.Direction != flow.DirectionIngress || !f.IsReply || f.DstPort != 2 || f.TCPFlags != "SYN,ACK" || r.TCPFlags != FlagSYN|FlagACK || f.Node != "n3" {
					t.Errorf("%+v flags %b", f, r.TCPFlags)
				}
			}},
		{"older reply field", `{"flow":{"reply":true,"verdict":"FORWARDED"}}`, KindFlow, func(t *testing.T, r *Response) {
			if !r.Flow.IsReply {
				t.Error("reply:true not read")
			}
		}},
		{"is_reply wins over reply", `{"flow":{"is_reply":false,"reply":true}}`, KindFlow, func(t *testing.T, r *Response) {
			if r.Flow.IsReply {
				t.Error("is_reply:false should win")
			}
		}},
		{"lost events", `{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1234","cpu":{"value":3}},"node_name":"n1","time":"2024-03-01T10:00:00Z"}`,
			KindLostEvents, func(t *testing.T, r *Response) {
				if r.LostEvents != 1234 || r.LostSource != "HUBBLE_RING_BUFFER" {
					t.Errorf("lost %d from %q", r.LostEvents, r.LostSource)
				}
			}},
		{"node status", `{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["n4","n5"],"message":"timeout"},"time":"2024-03-01T10:00:00Z"}`,
			KindNodeStatus, func(t *testing.T, r *Response) {
				if r.NodeStatus.State != "NODE_UNAVAILABLE" || len(r.NodeStatus.Nodes) != 2 || r.NodeStatus.Complete() {
					t.Errorf("%+v", r.NodeStatus)
				}
			}},
		{"unknown response type", `{"debug_event":{"type":"X"},"node_name":"n1"}`, KindOther, nil},
		{"posture record", `{"apiVersion":"posture.dev/v1","kind":"Edge","edge":{}}`, KindPosture, nil},
		{"HTTP L7", `{"flow":{"l7":{"type":"REQUEST","http":{"method":"POST","url":"https://api.example.com:8443/v1/orders?id=7#x","headers":[{"key":"a","value":"\"b\""}]}}}}`,
			KindFlow, func(t *testing.T, r *Response) {
				h := r.Flow.HTTP
				if h == nil || h.Method != "POST" || h.Path != "/v1/orders" || h.Host != "api.example.com:8443" || r.Flow.Event != flow.EventL7 {
					t.Errorf("%+v", h)
				}
			}},
		{"DNS L7 answer", `{"flow":{"l7":{"type":"RESPONSE","dns":{"query":"api.example.com.","ips":["192.0.2.1","192.0.2.2"],"ttl":300,"rcode":0,"qtypes":["A"]}}}}`,
			KindFlow, func(t *testing.T, r *Response) {
				d := r.Flow.DNS
				if d == nil || !d.Response || d.TTL != 300 || len(d.IPs) != 2 || d.QTypes[0] != "A" {
					t.Errorf("%+v", d)
				}
			}},
		{"escaped strings", `{"flow":{"source":{"namespace":"a\u0062c","pod_name":"p\"q\\r-0"}}}`, KindFlow, func(t *testing.T, r *Response) {
			if r.Flow.Source.Namespace != "abc" || r.Flow.Source.Pod != `p"q\r-0` {
				t.Errorf("%q %q", r.Flow.Source.Namespace, r.Flow.Source.Pod)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeLine([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != tc.kind {
				t.Fatalf("kind %v, want %v", r.Kind, tc.kind)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestDecodeBadInput(t *testing.T) {
	for _, tc := range []struct{ name, line, field, reason string }{
		{"truncated", dropLine[:strings.Index(dropLine, "app=web")], "flow.source.labels", "unterminated string"},
		{"truncated between members", `{"flow":{"verdict":"DROPPED",`, "flow.verdict", "want object key"},
		{"invalid UTF-8", "{\"flow\":{\"source\":{\"pod_name\":\"a\xff\"}}}", "", "invalid UTF-8"},
		{"wrong type port", `{"flow":{"l4":{"TCP":{"destination_port":"http"}}}}`, "flow.l4.TCP.destination_port", "want unsigned integer"},
		{"port out of range", `{"flow":{"l4":{"TCP":{"destination_port":70000}}}}`, "flow.l4.TCP.destination_port", "out of range"},
		{"negative identity", `{"flow":{"source":{"identity":-1}}}`, "flow.source.identity", "want unsigned integer"},
		{"labels not strings", `{"flow":{"source":{"labels":[1]}}}`, "flow.source.labels", "want string"},
		{"flow not object", `{"flow":[1]}`, "flow", "want object"},
		{"array line", `[1,2]`, "", "want object"},
		{"binary garbage", "\x00\x01\x02PK\x03\x04", "", "want object"},
		{"empty object", `{}`, "", "no flow"},
		{"trailing data", `{"flow":{}} x`, "", "trailing data"},
		{"bad time", `{"flow":{"time":"yesterday"}}`, "flow.time", "invalid time"},
		{"bad literal", `{"flow":{"is_reply":tru}}`, "flow.is_reply", "invalid literal"},
		{"bad number", `{"flow":{"unknown":01}}`, "flow.unknown", "invalid number"},
		{"deep nesting", `{"flow":{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}`, "", "nested too deeply"},
		{"control char", "{\"flow\":{\"source\":{\"pod_name\":\"a\tb\"}}}", "flow.source.pod_name", "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeLine([]byte(tc.line))
			if err == nil {
				t.Fatal("no error")
			}
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("error %T %v, want *FieldError", err, err)
			}
			if (tc.field != "" && fe.Field != tc.field) || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("got field %q reason %q; want field %q reason containing %q", fe.Field, fe.Reason, tc.field, tc.reason)
			}
		})
	}
}

// TestDecodeCaptures decodes every line of the real captures and checks
// them against facts counted with jq (see the golden files' header).
func TestDecodeCaptures(t *testing.T) {
	total, replies, l7, dnsAnswers := 0, 0, 0, 0
	d := NewDecoder()
	var r Response
	for _, file := range testenv.HubbleCaptures(t) {
		fh, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			if err := d.Decode(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s:%d: %v", file, n, err)
			}
			if r.Kind != KindFlow || r.Flow.Time.IsZero() || r.Flow.Node == "" || r.Flow.Protocol != flow.ProtoTCP || r.Flow.Verdict != flow.VerdictForwarded {
				t.Fatalf("%s:%d: incomplete %+v", file, n, r.Flow)
			}
			if r.Flow.Source.Identity == 0 || r.Flow.Destination.Identity == 0 || len(r.Flow.Source.Labels) == 0 {
				t.Fatalf("%s:%d: identities missing: %+v", file, n, r.Flow)
			}
			total++
			if r.Flow.IsReply {
				replies++
			}
			if r.Flow.Event == flow.EventL7 {
				l7++
			}
			if r.Flow.DNS != nil && len(r.Flow.DNS.IPs) > 0 {
				dnsAnswers++
			}
		}
		fh.Close()
	}
	// jq -s 'length', 'map(select(.flow.is_reply // .flow.reply)) | length',
	// 'map(select(.flow.Type=="L7"))|length', 'map(select(.flow.l7.dns.ips))|length'.
	if total != 688 || replies != 343 || l7 != 678 || dnsAnswers != 55 {
		t.Errorf("total %d replies %d l7 %d answers %d; want 688 343 678 55", total, replies, l7, dnsAnswers)
	}
}

func TestWorkloadFromPod(t *testing.T) {
	for pod, want := range map[string]string{
		"reviews-v1-545db77b95-s6jb8":         "reviews-v1",
		"kube-dns-b4f5c58c7-vnx5s":            "kube-dns",
		"ratings-v1-b6994bb9-4dt5c":           "ratings-v1",
		"node-local-dns-88zrp":                "node-local-dns",
		"backup-28876140-x7k2p":               "backup",
		"web-0":                               "web",
		"etcd-12":                             "etcd",
		"standalone":                          "standalone",
		"my-app":                              "my-app",
		"event-exporter-gke-67986489c8-svnrf": "event-exporter-gke",
	} {
		if got := WorkloadFromPod(pod); got != want {
			t.Errorf("WorkloadFromPod(%q) = %q, want %q", pod, got, want)
		}
	}
}
