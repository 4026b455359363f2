//go:build linux

package testbed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is a named network namespace.
type NS struct {
	Name   string
	handle netns.NsHandle
}

// Path is the namespace's bind mount, for tools and for the recorder's
// NetNS option.
func (n *NS) Path() string { return "/var/run/netns/" + n.Name }

// Do runs fn on an OS thread inside the namespace. Sockets fn creates stay
// in the namespace after it returns, so servers listen and clients dial
// inside Do and are used anywhere.
func (n *NS) Do(fn func() error) error {
	return Do(n.handle, fn)
}

// Do runs fn on an OS thread switched into ns, and switches back.
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// A thread that cannot be switched back is never unlocked, so Go
		// retires it instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("reading current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering netns: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Pod is a namespace with one interface (eth0) on the bridge.
type Pod struct {
	NS
	// HostIf is the host side of the pod's veth, in the node namespace.
	HostIf string
	IPv4   netip.Addr
	IPv6   netip.Addr
}

// Bed is a node namespace with a bridge and pods.
type Bed struct {
	Prefix string
	Node   *NS
	Bridge string
	Pods   []*Pod
	nodeNL *netlink.Handle
}

// Subnets the pods use; they exist only inside the bed's namespaces.
var (
	SubnetV4 = netip.MustParsePrefix("10.213.0.0/24")
	SubnetV6 = netip.MustParsePrefix("fd00:213::/64")
)

// New builds a node namespace with a bridge and n pods. Call Close (the
// caller's cleanup) to delete everything.
func New(n int) (b *Bed, err error) {
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("testbed: %d pods, want 1-200", n)
	}
	b = &Bed{Prefix: randomPrefix()}
	defer func() {
		if err != nil {
			b.Close()
			b = nil
		}
	}()
	if b.Node, err = newNamed(b.Prefix + "-node"); err != nil {
		return b, err
	}
	if b.nodeNL, err = netlink.NewHandleAt(b.Node.handle); err != nil {
		return b, fmt.Errorf("netlink in node netns: %w", err)
	}
	b.Bridge = b.Prefix + "br"
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Bridge}}
	if err := b.nodeNL.LinkAdd(br); err != nil {
		return b, fmt.Errorf("adding bridge: %w", err)
	}
	if err := b.nodeNL.LinkSetUp(br); err != nil {
		return b, fmt.Errorf("bridge up: %w", err)
	}
	for i := range n {
		p, err := b.addPod(i)
		if err != nil {
			return b, err
		}
		b.Pods = append(b.Pods, p)
	}
	return b, nil
}

func (b *Bed) addPod(i int) (*Pod, error) {
	ns, err := newNamed(fmt.Sprintf("%s-p%d", b.Prefix, i))
	if err != nil {
		return nil, err
	}
	p := &Pod{NS: *ns, HostIf: fmt.Sprintf("%sh%d", b.Prefix, i)}
	p.IPv4 = nthAddr(SubnetV4, i+2)
	p.IPv6 = nthAddr(SubnetV6, i+2)
	peer := fmt.Sprintf("%sp%d", b.Prefix, i)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.HostIf}, PeerName: peer}
	if err := b.nodeNL.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("adding veth %s: %w", p.HostIf, err)
	}
	host, err := b.nodeNL.LinkByName(p.HostIf)
	if err != nil {
		return nil, err
	}
	br, err := b.nodeNL.LinkByName(b.Bridge)
	if err != nil {
		return nil, err
	}
	if err := b.nodeNL.LinkSetMaster(host, br); err != nil {
		return nil, fmt.Errorf("enslaving %s: %w", p.HostIf, err)
	}
	if err := b.nodeNL.LinkSetUp(host); err != nil {
		return nil, err
	}
	podEnd, err := b.nodeNL.LinkByName(peer)
	if err != nil {
		return nil, err
	}
	if err := b.nodeNL.LinkSetNsFd(podEnd, int(ns.handle)); err != nil {
		return nil, fmt.Errorf("moving %s into %s: %w", peer, ns.Name, err)
	}
	nl, err := netlink.NewHandleAt(ns.handle)
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	eth, err := nl.LinkByName(peer)
	if err != nil {
		return nil, err
	}
	if err := nl.LinkSetName(eth, "eth0"); err != nil {
		return nil, err
	}
	for _, a := range []netip.Prefix{
		netip.PrefixFrom(p.IPv4, SubnetV4.Bits()),
		netip.PrefixFrom(p.IPv6, SubnetV6.Bits()),
	} {
		// nodad: the address is usable at once, no duplicate detection wait
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}
		if a.Addr().Is6() {
			addr.Flags = 0x02 // IFA_F_NODAD
		}
		if err := nl.AddrAdd(eth, addr); err != nil {
			return nil, fmt.Errorf("address %s: %w", a, err)
		}
	}
	if err := nl.LinkSetUp(eth); err != nil {
		return nil, err
	}
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("loopback up: %w", err)
	}
	return p, nil
}

// Close deletes every namespace of the bed by name (which removes their
// interfaces), reporting what it could not delete.
func (b *Bed) Close() error {
	var errs []error
	if b.nodeNL != nil {
		b.nodeNL.Close()
		b.nodeNL = nil
	}
	for _, p := range b.Pods {
		errs = append(errs, p.close())
	}
	b.Pods = nil
	if b.Node != nil {
		errs = append(errs, b.Node.close())
		b.Node = nil
	}
	return errors.Join(errs...)
}

func (n *NS) close() error {
	n.handle.Close()
	if err := netns.DeleteNamed(n.Name); err != nil {
		return fmt.Errorf("deleting netns %s: %w", n.Name, err)
	}
	return nil
}

// newNamed creates a named namespace without moving the caller's thread.
func newNamed(name string) (*NS, error) {
	var h netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		h, err = netns.NewNamed(name) // switches this thread into it
		if err != nil {
			errc <- fmt.Errorf("creating netns %s: %w", name, err)
			return
		}
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("leaving netns %s: %w", name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return &NS{Name: name, handle: h}, nil
}

func randomPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("pst%x", b)
}

func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr().AsSlice()
	for i := len(a) - 1; n > 0 && i >= 0; i-- {
		s := int(a[i]) + n
		a[i] = byte(s)
		n = s >> 8
	}
	r, _ := netip.AddrFromSlice(a)
	return r
}
