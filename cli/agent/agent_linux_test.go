//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/internal/testbed"
	"github.com/posture-dev/posture/internal/testenv"
)

// The agent runs as a child process (this test binary re-executed), so
// its CPU and memory are its own.
const childEnv = "POSTURE_AGENT_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		cmd := New(cmdutil.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
		cmd.SetArgs(strings.Split(args, "\x1f"))
		ctx, stop := signalContext()
		err := cmd.ExecuteContext(ctx)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type agentProc struct {
	cmd     *exec.Cmd
	metrics string
	stderr  *bytes.Buffer
	done    chan error
}

func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args = append(args, "--metrics-addr", addr)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	p := &agentProc{cmd: cmd, metrics: "http://" + addr + "/metrics", stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// metric returns a sample's value from the agent's /metrics.
func (p *agentProc) metric(name string) (float64, bool) {
	resp, err := http.Get(p.metrics)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(name):]), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("agent exited: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop\n%s", p.stderr)
	}
}

// usage reads the child's CPU seconds (user+system) and peak RSS.
func (p *agentProc) usage(t *testing.T) (cpu time.Duration, hwmKiB int) {
	t.Helper()
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			hwmKiB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return cpu, hwmKiB
}

func writeEndpoints(t *testing.T, dir string, b *testbed.Bed) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("endpoints:\n")
	for i, p := range b.Pods {
		fmt.Fprintf(&sb, "- namespace: bench\n  pod: pod-%d\n  ips: [%s, %q]\n  labels: {app: app%d}\n  interface: %s\n", i, p.IPv4, p.IPv6.String(), i, p.HostIf)
	}
	path := filepath.Join(dir, "endpoints.yaml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveAccept accepts on ports in pod and closes each connection once the
// client has closed it (so the client holds TIME_WAIT and never reuses a
// 4-tuple the agent is counting).
func serveAccept(t *testing.T, pod *testbed.Pod, ports []int) {
	t.Helper()
	for _, port := range ports {
		var ln net.Listener
		if err := pod.Do(func() (err error) {
			ln, err = net.Listen("tcp4", ":"+strconv.Itoa(port))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					io.Copy(io.Discard, c)
					c.Close()
				}()
			}
		}()
	}
}

// TestAgentLossless drives the test bed at the highest new-connection rate
// it reaches with the agent running as its own process, and checks that
// the exported edges count exactly the connections made.
// POSTURE_AGENT_LOAD_SECONDS sets the load duration (default 3).
func TestAgentLossless(t *testing.T) {
	testenv.RequireRoot(t)
	seconds := 3
	if s := os.Getenv("POSTURE_AGENT_LOAD_SECONDS"); s != "" {
		seconds, _ = strconv.Atoi(s)
	}
	b, err := testbed.New(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	client, server := b.Pods[0], b.Pods[1]
	ports := []int{8000, 8001, 8002, 8003}
	serveAccept(t, server, ports)
	// a wide ephemeral range in the client namespace: more unique tuples
	if err := client.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65000"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "edges.jsonl")
	fs := filepath.Join(dir, "bpffs")
	t.Cleanup(func() { syscall.Unmount(fs, syscall.MNT_DETACH) })
	agent := startAgent(t, "--endpoints", writeEndpoints(t, dir, b), "--netns", b.Node.Path(),
		"--out", out, "--interval", "1s", "--pin-path", filepath.Join(fs, "posture"), "--flow-entries", "524288")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, ok := agent.metric("posture_agent_endpoints"); ok && v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not attach\n%s", agent.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu0, _ := agent.usage(t)

	var made, failed atomic.Int64
	tuples := &tupleSet{m: map[string]int{}}
	var wg sync.WaitGroup
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	start := time.Now()
	const workers = 8
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := netip.AddrPortFrom(server.IPv4, uint16(ports[w%len(ports)])).String()
			client.Do(func() error {
				for time.Now().Before(stop) {
					c, err := net.DialTimeout("tcp4", dst, 5*time.Second)
					if err != nil {
						failed.Add(1)
						continue
					}
					made.Add(1)
					tuples.add(c.LocalAddr().String() + ">" + dst)
					c.Close()
				}
				return nil
			})
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // one more export interval
	cpu1, hwm := agent.usage(t)
	lost, _ := agent.metric(`posture_agent_ringbuf_lost_events{ring="events"}`)
	observed, _ := agent.metric(`posture_agent_flows_observed_total{direction="egress"}`)
	newFlows, _ := agent.metric(`posture_agent_datapath_counter{counter="new_flows"}`)
	updFailed, _ := agent.metric(`posture_agent_datapath_counter{counter="flow_update_failed"}`)
	entries, _ := agent.metric(`posture_agent_flow_map_entries`)
	agent.stop(t)

	t.Logf("4-tuples the kernel reused for a new connection: %d", tuples.dups)
	if failed.Load() > 0 {
		t.Errorf("%d connections failed (audit posture must not break any)", failed.Load())
	}
	var flows, eg, in, total uint64
	edges := readEdges(t, out)
	defer func() {
		if t.Failed() {
			for _, e := range edges {
				t.Logf("edge %s -> %s %s/%d: %d flows, egress %d, ingress %d, ips %v", e.Source.String(), e.Destination.String(), e.Protocol, e.Port, e.Flows, e.ObservedEgress, e.ObservedIngress, e.DestinationIPs)
			}
		}
	}()
	for _, e := range edges {
		total += e.Flows
		if e.Protocol == flow.ProtoTCP {
			flows += e.Flows
			eg += e.ObservedEgress
			in += e.ObservedIngress
		}
	}
	n := uint64(made.Load())
	rate := float64(n) / elapsed.Seconds()
	t.Logf("%d connections in %v (%.0f/s); edges count %d flows (egress %d, ingress %d); %v ring-buffer events lost; agent CPU %.2fs over %.1fs (%.1f%% of a core), peak RSS %d MiB",
		n, elapsed.Round(time.Millisecond), rate, flows, eg, in, lost, (cpu1 - cpu0).Seconds(), elapsed.Seconds()+1.5,
		100*(cpu1-cpu0).Seconds()/(elapsed.Seconds()+1.5), hwm/1024)
	t.Logf("datapath: %v new flows, %v flow-map entries, %v failed inserts", newFlows, entries, updFailed)
	if flows != n || eg != n || in != n {
		t.Errorf("recorded %d flows (egress %d, ingress %d), made %d connections", flows, eg, in, n)
	}
	// what suggest and verify read: the same edges, the same counts
	loaded, _, err := evidence.LoadEdges(context.Background(), out, nil)
	if err != nil {
		t.Fatalf("evidence reader on the agent's output: %v", err)
	}
	var lflows uint64
	for _, e := range loaded {
		lflows += e.Flows
	}
	if len(loaded) != len(edges) || lflows != total {
		t.Errorf("evidence reader: %d edges with %d flows, agent wrote %d with %d", len(loaded), lflows, len(edges), total)
	}
	if observed < float64(n) {
		t.Errorf("flows_observed metric %v < %d connections", observed, n)
	}
}

func readEdges(t *testing.T, path string) []flow.Edge {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []flow.Edge
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		r, err := flow.DecodeRecord(line)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, *r.Edge)
	}
	return out
}

type tupleSet struct {
	mu   sync.Mutex
	m    map[string]int
	dups int
}

// add records a 4-tuple; the kernel reuses them once the previous
// connection is closed, and the agent must still count each connection.
func (s *tupleSet) add(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k]++
	if s.m[k] > 1 {
		s.dups++
	}
}
