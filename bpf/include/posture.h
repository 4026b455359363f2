/* Types shared between the kernel programs and user space (bpf2go turns
 * the structs named with -type into Go), plus minimal packet header layouts.
 * The header layouts are written out here instead of taken from the
 * kernel's UAPI headers so that no bitfield or host byte-order definition
 * leaks into the object: every multi-byte wire field is read as raw bytes
 * or as a network-order integer. */
#pragma once

#define AF_ADDR_LEN 16

/* Directions are relative to the pod, as Cilium enforces policy: packets
 * the pod sends are its egress, packets delivered to it its ingress. */
#define DIR_EGRESS 1
#define DIR_INGRESS 2

/* Shadow verdicts for a new flow, as if the staged set were enforced. */
#define VERDICT_UNKNOWN 0
#define VERDICT_ALLOWED 1
#define VERDICT_AUDIT 2
#define VERDICT_NOT_SELECTED 3

/* flow_value.flags */
#define FLOW_F_MIDSTREAM 1 /* first packet seen was not the connection's first */

/* Reserved identity for addresses no map knows (Cilium's reserved:world). */
#define IDENTITY_WORLD 2

/* Index into the per-CPU stats array. */
enum stat_index {
	STAT_PACKETS = 0,
	STAT_NEW_FLOWS,
	STAT_NON_IP,
	STAT_TRUNCATED,
	STAT_FRAGMENTS,
	STAT_FRAG_UNKNOWN,
	STAT_RELATED, /* ICMP errors and neighbour discovery: no flow of their own */
	STAT_FLOW_UPDATE_FAILED,
	STAT_EVENTS_LOST,
	STAT_DNS_COPIED,
	STAT_DNS_LOST,
	STAT_MAX,
};

/* A flow in canonical orientation: (addr_a, port_a) sorts before
 * (addr_b, port_b), so a request and its reply on one interface find the
 * same entry with a single lookup. dir is the pod-relative direction of
 * packets travelling a -> b. Addresses are IPv6 or IPv4-mapped IPv6;
 * ports are in network byte order. For ICMP echo, the identifier takes the
 * initiator's port and the request type the responder's. */
struct flow_key {
	__u8 addr_a[AF_ADDR_LEN];
	__u8 addr_b[AF_ADDR_LEN];
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 dir;
	__u8 pad[2];
};

/* The same for IPv4 flows, the common case, in a map of their own: a
 * 16-byte key hashes and compares in less time than the 40-byte one, and
 * every packet pays for one lookup. */
struct flow_key4 {
	__u8 addr_a[4];
	__u8 addr_b[4];
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 dir;
	__u8 pad[2];
};

/* Per-flow aggregate, the source of truth. Counters are updated with
 * atomic adds; flags with plain read-modify-write (a lost race loses a flag
 * bit, never a count). Times are CLOCK_MONOTONIC (coarse) nanoseconds.
 * The flow map is deliberately not per-CPU: a per-CPU LRU would multiply
 * its memory by the CPU count and let each CPU see a "new" flow; the
 * per-CPU array pays only for the global stats, which every packet
 * touches. */
struct flow_value {
	__u64 first_ns;
	__u64 last_ns;
	__u64 packets_fwd; /* initiator -> responder */
	__u64 bytes_fwd;
	__u64 packets_rev;
	__u64 bytes_rev;
	__u32 src_identity; /* initiator */
	__u32 dst_identity; /* responder */
	__u32 ifindex;
	__u8 initiator_is_b;
	__u8 verdict;
	__u8 flags;
	__u8 tcp_flags_fwd;
	__u8 tcp_flags_rev;
	__u8 pad[3];
	/* Connections on this 4-tuple: a TCP SYN after the previous
	 * connection's FIN or RST starts another one (ports get reused). */
	__u32 conns;
};

/* The flow table: the first place a flow is counted. Plain arrays, whose
 * lookups the verifier inlines, so a packet of a known flow makes no
 * helper call: on this class of machine (Safe RET, retpolines) one
 * hash-map lookup costs more than the rest of the packet's work.
 *
 * A hashed array of buckets (struct ft_tags, eight ways to a cache line)
 * says where each flow lives in a pool of entries (struct ft_slot). Each
 * CPU takes entries from the pool in runs of FT_CHUNK, so the entries of
 * new flows are written one after another instead of at random. A
 * bucket's ways fill in order and are never emptied, so a lookup stops at
 * the first empty way.
 *
 * User space reclaims idle flows when the pool runs low, as an LRU map
 * evicts: it marks their ways TOMB (lookups pass over them, new flows of
 * the bucket take them again) and, once no program can still be counting
 * into them, queues their entries on a ring of free entries, which CPUs
 * take runs from when the pool's never-used part is gone. A flow the
 * table cannot place (full bucket, no free entry) goes to the LRU maps
 * (posture_flows4, posture_flows); once one has, every table miss also
 * looks there. */
#define FT_WAYS 8
#define FT_CHUNK 64

/* ft_tags.state[i]: the flow's hash tag in the upper 32 bits, its pool
 * index in the next 24 and the way's kind in the lowest 8. A way is
 * claimed with compare-and-swap (EMPTY -> BUSY), its entry filled, then
 * published (BUSY -> VALID with the index). */
#define FT_EMPTY 0
#define FT_BUSY 1
#define FT_VALID 2
#define FT_TOMB 3
#define FT_KIND_MASK 0xffULL
#define FT_IDX_SHIFT 8
#define FT_IDX_MASK 0xffffff00ULL
#define FT_MAX_SLOTS (1 << 24)

struct ft_tags {
	__u64 state[FT_WAYS];
};

struct ft_slot {
	struct flow_key key;
	struct flow_value val;
};

/* The pool's shared state. next: the first never-used entry. free_head,
 * free_tail: the ring of free entries (posture_ftfree), taken by CPUs
 * at head and filled by user space at tail; both only grow. lru: nonzero
 * once a flow went to the LRU maps. */
struct ft_pool {
	__u64 next;
	__u64 free_head;
	__u64 free_tail;
	__u64 lru;
};

/* A CPU's current run: entries next..end-1 of the pool, or, from the
 * ring, the entries named at ring positions next..end-1. */
struct ft_run {
	__u64 next;
	__u64 end;
	__u32 ring;
	__u32 pad;
};

/* The verdict cache: per CPU, direct-mapped, what a new flow's identity
 * and shadow lookups gave for the same initiator, responder, protocol,
 * responder port and direction, so the next connection between them
 * (a new source port) makes none of those four map calls. gen is the
 * policy generation the answer was computed under: user space bumps it
 * after every change to the endpoint, CIDR, subject or shadow maps, which
 * empties the cache at once. The key part is compared as five words. */
struct vc_key {
	__u8 iaddr[AF_ADDR_LEN];
	__u8 raddr[AF_ADDR_LEN];
	__u16 rport;
	__u8 proto;
	__u8 idir;
	__u32 gen;
};

struct vc_entry {
	struct vc_key key;
	__u32 src_identity;
	__u32 dst_identity;
	__u8 verdict;
	__u8 pad[7];
};

/* Announced for every new flow (and every reused 4-tuple) on its CPU's
 * event ring. */
struct flow_event {
	struct flow_key key;
	__u64 time_ns;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 ifindex;
	__u8 initiator_is_b;
	__u8 verdict;
	__u8 flags;
	__u8 pad;
};

#define DNS_MAX_PAYLOAD 2048

/* A DNS answer (source port 53) delivered to a pod, copied up to
 * DNS_MAX_PAYLOAD bytes; len is the full payload length on the wire. */
struct dns_event {
	__u64 time_ns;
	__u8 saddr[AF_ADDR_LEN];
	__u8 daddr[AF_ADDR_LEN];
	__u32 ifindex;
	__u16 len;
	__u16 caplen;
	__u8 proto;
	__u8 pad[7];
	__u8 data[DNS_MAX_PAYLOAD];
};

/* World addresses and CIDR classes: longest-prefix match over
 * IPv4-mapped IPv6 addresses. */
struct cidr_key {
	__u32 prefixlen;
	__u8 addr[AF_ADDR_LEN];
};

/* An endpoint address (pod IP) for the exact-match identity map. */
struct endpoint_key {
	__u8 addr[AF_ADDR_LEN];
};

/* The endpoint table: a hashed array of buckets, one cache line each,
 * holding up to EP_WAYS (address, identity) pairs, whose lookup the
 * verifier inlines. User space writes it beside the endpoints hash map,
 * which holds every endpoint; an endpoint that does not fit its bucket is
 * only there, and the bucket's EP_OVERFLOW bit says so. The rest of seq
 * is a sequence count user space makes odd while it writes the bucket; a
 * reader that sees it odd or changed asks the hash map instead. An
 * identity of zero marks a free way. Addresses are two 64-bit words as
 * the bytes lie in memory. */
#define EP_WAYS 3
#define EP_OVERFLOW 0x80000000
struct ep_bucket {
	__u32 seq;
	__u32 id[EP_WAYS];
	__u64 addr[EP_WAYS][2];
};

/* Shadow policy: longest-prefix match whose exact part is (subject, peer,
 * dir, proto) and whose last 16 bits are the port, so a port range becomes
 * a handful of prefixes. subject is the local endpoint whose policy
 * applies in dir; peer the other side. */
struct shadow_key {
	__u32 prefixlen;
	__u32 subject;
	__u32 peer;
	__u8 dir;
	__u8 proto;
	__u16 port; /* network byte order */
};

/* A subject's default verdict in one direction: present means some rule
 * of the staged set selects it, so unmatched traffic is AUDIT. */
struct subject_key {
	__u32 identity;
	__u8 dir;
	__u8 pad[3];
};

/* Remembers the ports of a fragmented datagram so later fragments count
 * toward the right flow. */
struct frag_key {
	__u8 saddr[AF_ADDR_LEN];
	__u8 daddr[AF_ADDR_LEN];
	__u32 id;
	__u8 proto;
	__u8 pad[3];
};

struct frag_ports {
	__u16 sport;
	__u16 dport;
};

/* ---- wire headers (offsets per the RFCs; multi-byte fields big-endian) */

struct hdr_eth {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct hdr_vlan {
	__be16 tci;
	__be16 proto;
};

struct hdr_ipv4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__be16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct hdr_ipv6 {
	__u8 ver_tc_flow[4];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct hdr_ports {
	__be16 sport;
	__be16 dport;
};

struct hdr_tcp {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__u8 doff_res;
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg;
};

struct hdr_icmp {
	__u8 type;
	__u8 code;
	__be16 check;
	__be16 id;
	__be16 seq;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Each CPU's event ring: EV_PER_CPU flow_events in posture_evring, from
 * index cpu * EV_PER_CPU. Only the program on that CPU writes head, only
 * user space writes tail; each has a cache line of its own so neither
 * side's stores disturb the other's. head - tail events wait to be read. */
#define EV_PER_CPU 4096
struct ev_ctl {
	__u64 head;
	__u64 pad1[7];
	__u64 tail;
	__u64 pad2[7];
};
