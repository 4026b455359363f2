//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AttachMode chooses the hook.
type AttachMode int

const (
	// AttachAuto uses TCX and falls back to tc clsact where TCX is missing.
	AttachAuto AttachMode = iota
	AttachTCX
	AttachClsact
)

func (m AttachMode) String() string {
	switch m {
	case AttachTCX:
		return "tcx"
	case AttachClsact:
		return "clsact"
	}
	return "auto"
}

// Attachment is the pair of programs on one host-side veth.
type Attachment struct {
	Ifindex int
	Mode    AttachMode
	links   []link.Link
	filters []netlink.Filter
}

// Attach hooks FromPod on the interface's ingress and ToPod on its egress.
func (o *Objects) Attach(ifindex int, mode AttachMode) (*Attachment, error) {
	if mode != AttachClsact {
		a, err := o.attachTCX(ifindex)
		if err == nil || mode == AttachTCX {
			return a, err
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, err
		}
	}
	return o.attachClsact(ifindex)
}

func (o *Objects) attachTCX(ifindex int) (*Attachment, error) {
	a := &Attachment{Ifindex: ifindex, Mode: AttachTCX}
	for _, h := range []struct {
		prog *ebpf.Program
		at   ebpf.AttachType
	}{{o.objs.FromPod, ebpf.AttachTCXIngress}, {o.objs.ToPod, ebpf.AttachTCXEgress}} {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: h.prog, Attach: h.at})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("attaching tcx to ifindex %d: %w", ifindex, err)
		}
		a.links = append(a.links, l)
	}
	return a, nil
}

func (o *Objects) attachClsact(ifindex int) (*Attachment, error) {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: ifindex,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscReplace(qdisc); err != nil {
		return nil, fmt.Errorf("adding clsact to ifindex %d: %w", ifindex, err)
	}
	a := &Attachment{Ifindex: ifindex, Mode: AttachClsact}
	for _, h := range []struct {
		prog   *ebpf.Program
		parent uint32
		name   string
	}{{o.objs.FromPod, netlink.HANDLE_MIN_INGRESS, "posture_from_pod"}, {o.objs.ToPod, netlink.HANDLE_MIN_EGRESS, "posture_to_pod"}} {
		f := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: ifindex,
				Parent:    h.parent,
				Handle:    netlink.MakeHandle(0, 1),
				Protocol:  unix.ETH_P_ALL,
				// priority 1 runs before filters others add at the default
				Priority: 1,
			},
			Fd:           h.prog.FD(),
			Name:         h.name,
			DirectAction: true,
		}
		if err := netlink.FilterReplace(f); err != nil {
			a.Close()
			return nil, fmt.Errorf("adding tc filter to ifindex %d: %w", ifindex, err)
		}
		a.filters = append(a.filters, f)
	}
	return a, nil
}

// Close detaches both programs; the clsact qdisc stays, as other tools may
// share it.
func (a *Attachment) Close() error {
	var errs []error
	for _, l := range a.links {
		errs = append(errs, l.Close())
	}
	for _, f := range a.filters {
		if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("removing tc filter: %w", err))
		}
	}
	a.links, a.filters = nil, nil
	return errors.Join(errs...)
}
