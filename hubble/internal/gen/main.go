package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

func main() {
	edges := flag.Int("edges", 10000, "distinct edges (source workload x destination workload)")
	size := flag.Float64("bytes", 5e9, "bytes to write")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*edges, int64(*size), *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(edges int, size int64, seed uint64) error {
	side := 1
	for side*side < edges {
		side++
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	t := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var line []byte
	var written int64
	for written < size {
		e := rng.IntN(edges)
		src, dst := e/side, e%side
		t = t.Add(time.Duration(rng.IntN(2000)) * time.Microsecond)
		line = appendLine(line[:0], t, src, dst, rng)
		n, err := w.Write(line)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return w.Flush()
}

func appendEndpoint(b []byte, app int, pod int) []byte {
	ns := "team-" + strconv.Itoa(app%50)
	name := "app-" + strconv.Itoa(app)
	b = append(b, `{"ID":`...)
	b = strconv.AppendInt(b, int64(100+app), 10)
	b = append(b, `,"identity":`...)
	b = strconv.AppendInt(b, int64(10000+app), 10)
	b = append(b, `,"namespace":"`...)
	b = append(b, ns...)
	b = append(b, `","labels":["k8s:app=`...)
	b = append(b, name...)
	b = append(b, `","k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=`...)
	b = append(b, ns...)
	b = append(b, `","k8s:io.cilium.k8s.policy.cluster=default","k8s:io.cilium.k8s.policy.serviceaccount=`...)
	b = append(b, name...)
	b = append(b, `","k8s:io.kubernetes.pod.namespace=`...)
	b = append(b, ns...)
	b = append(b, `","k8s:version=v1"],"pod_name":"`...)
	b = append(b, name...)
	b = append(b, "-5d9c7b8f6d-"...)
	b = append(b, "bcdfg"[pod%5], "hjklm"[pod/5%5], 'x', 'z', '2')
	b = append(b, `"}`...)
	return b
}

func appendIP(b []byte, app, pod int) []byte {
	b = append(b, "10."...)
	b = strconv.AppendInt(b, int64(app/200), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(app%200), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(pod+1), 10)
}

func appendLine(b []byte, t time.Time, src, dst int, rng *rand.Rand) []byte {
	sp, dp := rng.IntN(3), rng.IntN(3)
	ts := t.Format(time.RFC3339Nano)
	reply := rng.IntN(2) == 0
	b = append(b, `{"flow":{"time":"`...)
	b = append(b, ts...)
	b = append(b, `","verdict":"FORWARDED","ethernet":{"source":"46:e5:ea:1f:95:ff","destination":"d6:ec:b0:4a:ff:46"},"IP":{"source":"`...)
	b = appendIP(b, src, sp)
	b = append(b, `","destination":"`...)
	b = appendIP(b, dst+5000, dp)
	b = append(b, `","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":`...)
	b = strconv.AppendInt(b, int64(32768+rng.IntN(28000)), 10)
	b = append(b, `,"destination_port":`...)
	b = strconv.AppendInt(b, int64(8000+dst%100), 10)
	b = append(b, `,"flags":{"PSH":true,"ACK":true}}},"source":`...)
	b = appendEndpoint(b, src, sp)
	b = append(b, `,"destination":`...)
	b = appendEndpoint(b, dst+5000, dp)
	b = append(b, `,"Type":"L3_L4","node_name":"node-`...)
	b = strconv.AppendInt(b, int64(src%7), 10)
	b = append(b, `","event_type":{"type":4},"traffic_direction":"EGRESS","trace_observation_point":"TO_STACK","is_reply":`...)
	b = strconv.AppendBool(b, reply)
	b = append(b, `,"Summary":"TCP Flags: ACK, PSH"},"node_name":"node-`...)
	b = strconv.AppendInt(b, int64(src%7), 10)
	b = append(b, `","time":"`...)
	b = append(b, ts...)
	b = append(b, "\"}\n"...)
	return b
}
