//go:build linux

package bpf

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/posture-dev/posture/internal/testenv"
)

// pinDir is a pin directory on a bpffs of the test's own, unmounted
// afterwards.
func pinDir(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	fs := filepath.Join(t.TempDir(), "bpffs")
	if err := unix.Mkdir(fs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	return filepath.Join(fs, "posture")
}

// A version before posture_flows4 kept IPv4 flows in posture_flows under
// IPv4-mapped keys; loading over its pins must move them, once, and leave
// IPv6 flows where they are.
func TestLoadMovesPinnedIPv4Flows(t *testing.T) {
	pin := pinDir(t)

	o, err := Load(Options{PinPath: pin})
	if err != nil {
		t.Fatal(err)
	}
	k4 := FlowKey{AddrA: Addr16(podA), AddrB: Addr16(podB), PortA: htons(40000), PortB: htons(80), Proto: ProtoTCP, Dir: DirEgress}
	k6 := FlowKey{AddrA: Addr16(pod6A), AddrB: Addr16(pod6B), PortA: htons(40000), PortB: htons(80), Proto: ProtoTCP, Dir: DirEgress}
	for i, k := range []FlowKey{k4, k6} {
		v := FlowValue{FirstNs: 1, LastNs: 2, PacketsFwd: uint64(10 + i), Conns: 1}
		if err := o.objs.PostureFlows.Update(&k, &v, ebpf.UpdateNoExist); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()

	o, err = Load(Options{PinPath: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var v FlowValue
	if err := o.objs.PostureFlows.Lookup(&k4, &v); err == nil {
		t.Error("IPv4 flow still in posture_flows after reload")
	}
	if err := o.objs.PostureFlows4.Lookup(key4(&k4), &v); err != nil || v.PacketsFwd != 10 {
		t.Errorf("IPv4 flow in posture_flows4: %+v, %v; want 10 packets", v, err)
	}
	if err := o.objs.PostureFlows.Lookup(&k6, &v); err != nil || v.PacketsFwd != 11 {
		t.Errorf("IPv6 flow in posture_flows: %+v, %v; want 11 packets", v, err)
	}
	got := map[FlowKey]uint64{}
	if err := o.ReadFlows(func(k *FlowKey, v *FlowValue) { got[*k] += v.PacketsFwd }); err != nil {
		t.Fatal(err)
	}
	want := map[FlowKey]uint64{k4: 10, k6: 11}
	if len(got) != len(want) || got[k4] != 10 || got[k6] != 11 {
		t.Errorf("ReadFlows = %v, want %v", got, want)
	}
}
