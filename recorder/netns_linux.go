//go:build linux

package recorder

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNetNS runs fn on an OS thread inside the network namespace at path
// ("" runs it in place). Attaching by interface index resolves the index
// in the calling thread's namespace, so attach and detach go through here.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", path, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		// never unlocked if switching back fails: Go then retires the thread
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("reading current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("entering netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving netns %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// InterfaceByRoute returns a lookup of the interface the node routes a
// pod address through: the host side of the pod's veth for CNIs that
// route per pod (Cilium, Calico and most others), inside netnsPath.
func InterfaceByRoute(netnsPath string) func(netip.Addr) (string, error) {
	return func(a netip.Addr) (string, error) {
		var name string
		err := inNetNS(netnsPath, func() error {
			routes, err := netlink.RouteGet(a.AsSlice())
			if err != nil {
				return fmt.Errorf("route to %s: %w", a, err)
			}
			if len(routes) == 0 || routes[0].LinkIndex == 0 {
				return fmt.Errorf("no route to %s", a)
			}
			l, err := netlink.LinkByIndex(routes[0].LinkIndex)
			if err != nil {
				return fmt.Errorf("interface %d: %w", routes[0].LinkIndex, err)
			}
			name = l.Attrs().Name
			return nil
		})
		return name, err
	}
}
