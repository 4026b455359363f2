package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Value checks shared by validation and lint. The patterns are the ones in
// Cilium's CRD schema and its rule sanitizer (pkg/policy/api), restated.
var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelValueRE     = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelNameRE      = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelSourceRE    = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	svcNameRE        = regexp.MustCompile(`^([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$`)
	fqdnNameRE       = regexp.MustCompile(`^[-a-zA-Z0-9_.]+$`)
	fqdnPatternRE    = regexp.MustCompile(`^[-a-zA-Z0-9_.*]+$`)
	crdFQDNNameRE    = regexp.MustCompile(`^([-a-zA-Z0-9_]+[.]?)+$`)
	crdFQDNPatternRE = regexp.MustCompile(`^([-a-zA-Z0-9_*]+[.]?)+$`)
	icmpNumberRE     = regexp.MustCompile(`^([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])$`)
)

// crdEntities are the entity names Cilium's CRD accepts.
var crdEntities = []string{
	EntityAll, EntityWorld, EntityCluster, "cluster-mesh", EntityHost, EntityInit, EntityIngress,
	EntityUnmanaged, EntityRemoteNode, EntityHealth, EntityNone, EntityKubeAPIServer,
}

// Protocols the CRD accepts in toPorts. The extended ones carry no ports.
var (
	portProtocols     = []string{"TCP", "UDP", "SCTP", "ANY"}
	extendedProtocols = []string{"VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH"}
)

// icmpTypeNames are the ICMP type names the CRD accepts besides 0-255.
var icmpTypeNames = strings.Fields(`EchoReply DestinationUnreachable Redirect Echo RouterAdvertisement
	RouterSelection TimeExceeded ParameterProblem Timestamp TimestampReply Photuris ExtendedEchoRequest
	ExtendedEchoReply PacketTooBig EchoRequest MulticastListenerQuery MulticastListenerReport
	MulticastListenerDone RouterSolicitation NeighborSolicitation NeighborAdvertisement RedirectMessage
	RouterRenumbering ICMPNodeInformationQuery ICMPNodeInformationResponse
	InverseNeighborDiscoverySolicitation InverseNeighborDiscoveryAdvertisement
	HomeAgentAddressDiscoveryRequest HomeAgentAddressDiscoveryReply MobilePrefixSolicitation
	MobilePrefixAdvertisement DuplicateAddressRequestCodeSuffix DuplicateAddressConfirmationCodeSuffix`)

// labelKeyProblem checks a Cilium label key: an optional "source:" prefix
// and a Kubernetes qualified name.
func labelKeyProblem(key string) string {
	parts := strings.Split(key, ":")
	name := key
	switch len(parts) {
	case 1:
	case 2:
		if !labelSourceRE.MatchString(parts[0]) {
			return "label source before ':' must be alphanumeric (k8s, any, reserved, cidr, fqdn)"
		}
		name = parts[1]
	default:
		return "a label key may contain at most one ':' (after the source)"
	}
	prefix, local, hasPrefix := strings.Cut(name, "/")
	if !hasPrefix {
		local, prefix = name, ""
	} else if prefix == "" || len(prefix) > 253 || !dns1123Subdomain.MatchString(prefix) {
		return "the prefix before '/' must be a DNS subdomain"
	}
	if local == "" {
		return "label name must not be empty"
	}
	if len(local) > 63 || !labelNameRE.MatchString(local) {
		return "label name must be at most 63 characters: alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
	}
	return ""
}

func labelValueProblem(v string) string {
	if len(v) > 63 || !labelValueRE.MatchString(v) {
		return "label value must be at most 63 characters: alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
	}
	return ""
}

// parsePort returns the port number, or -1 for a named port. As in
// Cilium, anything that looks like an IANA service name is a name (so
// "0x10" is one), and the rest is read by strconv.ParseUint with base 0
// (so "010" is port 8 and "08" is an error).
func parsePort(s string) (int, string) {
	if s == "" {
		return 0, "port must be specified"
	}
	if isSvcName(s) {
		return -1, ""
	}
	n, err := strconv.ParseUint(s, 0, 16)
	switch {
	case err == nil:
		return int(n), ""
	case strings.Trim(s, "0123456789") == "" && strings.HasPrefix(s, "0"):
		return 0, fmt.Sprintf("port %q cannot be read: a leading 0 makes it octal", s)
	case strings.Trim(s, "0123456789") == "":
		return 0, fmt.Sprintf("port %s is out of range 0-65535", s)
	}
	return 0, fmt.Sprintf("port %q is neither a number 0-65535 nor a named port (IANA service name: up to 15 letters, digits and '-')", s)
}

func isSvcName(s string) bool { return len(s) <= 15 && svcNameRE.MatchString(s) }

// parseCIDR accepts prefix notation only: the CRD's "cidr" format rejects
// bare addresses.
func checkCIDR(s string) (netip.Prefix, string, string) {
	p, err := netip.ParsePrefix(s)
	if err == nil {
		return p, "", ""
	}
	if a, aerr := netip.ParseAddr(s); aerr == nil {
		return netip.Prefix{}, fmt.Sprintf("%q is an address, not a CIDR", s), fmt.Sprintf("write %s/%d", a, a.BitLen())
	}
	return netip.Prefix{}, fmt.Sprintf("invalid CIDR %q", s), "use prefix notation such as 10.0.0.0/8"
}

// fqdnProblem checks a toFQDNs or DNS rule selector; exactly one of
// matchName and matchPattern must be set.
func fqdnProblem(name, pattern string) string {
	switch {
	case name != "" && pattern != "":
		return "only one of matchName and matchPattern may be set"
	case name == "" && pattern == "":
		return "one of matchName or matchPattern is required"
	case len(name) > 255 || len(pattern) > 255:
		return "name is longer than 255 characters"
	case name != "" && (!fqdnNameRE.MatchString(name) || !crdFQDNNameRE.MatchString(name)):
		return fmt.Sprintf("invalid matchName %q: only a-z, A-Z, 0-9, '.', '-' and '_' are allowed, without empty labels", name)
	case pattern != "" && (!fqdnPatternRE.MatchString(pattern) || !crdFQDNPatternRE.MatchString(pattern)):
		return fmt.Sprintf("invalid matchPattern %q: only a-z, A-Z, 0-9, '.', '-', '_' and '*' are allowed, without empty labels", pattern)
	}
	return ""
}
