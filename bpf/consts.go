package bpf

// Pod-relative directions, as in posture.h.
const (
	DirEgress  uint8 = 1
	DirIngress uint8 = 2
)

// Shadow verdicts, as in posture.h.
const (
	VerdictUnknown     uint8 = 0
	VerdictAllowed     uint8 = 1
	VerdictAudit       uint8 = 2
	VerdictNotSelected uint8 = 3
)

// FlowMidstream is set in a flow's flags when its first observed packet was
// not the connection's first, so the initiator is a guess.
const FlowMidstream uint8 = 1

// IdentityWorld is what the program assigns to addresses no map knows.
const IdentityWorld uint32 = 2

// IP protocol numbers the program distinguishes.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// ReturnUnspec is TC_ACT_UNSPEC (TCX_NEXT) as PROG_TEST_RUN reports it:
// the only value the programs ever return.
const ReturnUnspec uint32 = 0xffffffff
