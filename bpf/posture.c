//go:build ignore

/* posture's datapath observer, attached (TCX or tc clsact) on the host side
 * of each pod's veth. It aggregates every packet into a per-flow entry,
 * tags each new flow with the verdict the staged policy set would give if
 * it were enforced, announces new flows and copies DNS answers to user
 * space, and always passes the packet on: audit posture never drops. */

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "posture.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_ICMP 1
#define IPPROTO_IGMP 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define IPPROTO_SCTP 132

/* Headers worth making linear before parsing: Ethernet, two VLAN tags,
 * IPv6 with a few extension headers and a TCP header with options. */
#define PULL_LEN 192
#define MAX_IPV6_EXT 4

/* Pinned so that an agent restart keeps every count. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_flows SEC(".maps");

/* IPv4 flows (struct flow_key4); posture_flows keeps the others. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct flow_key4);
	__type(value, struct flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_flows4 SEC(".maps");

/* The flow table (see posture.h): FT_BUCKETS buckets of FT_WAYS ways and
 * a pool of FT_SLOTS entries, memory-mappable so user space reads them
 * without a copy per entry. The pool's next free run is pinned with it,
 * so a restarted agent never hands out an entry twice. */
#define FT_BUCKETS 32768
#define FT_SLOTS (FT_BUCKETS * FT_WAYS)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FT_BUCKETS);
	__type(key, __u32);
	__type(value, struct ft_tags);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_fttags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FT_SLOTS);
	__type(key, __u32);
	__type(value, struct ft_slot);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_flowtab SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_pool);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_ftpool SEC(".maps");

/* The ring of free entries: FT_SLOTS positions (a power of two, at least
 * the pool's size, so it never overflows). Values are 64-bit because an
 * array's elements are 8-byte aligned: user space indexes the mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_ftfree SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_run);
} ft_runs SEC(".maps");

/* The pool's size and the free ring's positions - 1; the loader sets
 * them with the maps' sizes. */
const volatile __u32 ft_slots = FT_SLOTS;
const volatile __u32 ft_ring_mask = FT_SLOTS - 1;

/* Buckets - 1; the loader sets it when it resizes the table (a power of
 * two). */
const volatile __u32 ft_mask = FT_BUCKETS - 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} posture_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint_key);
	__type(value, __u32);
} endpoints SEC(".maps");

/* See struct ep_bucket: in front of the endpoints map, because a new flow
 * to a peer whose cached verdict it lacks paid that map two dependent
 * cache misses and a helper call, about 100 ns of a new flow's time. */
#define EP_BUCKETS 32768
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EP_BUCKETS);
	__type(key, __u32);
	__type(value, struct ep_bucket);
	__uint(map_flags, BPF_F_MMAPABLE);
} posture_eptab SEC(".maps");

/* Set by the loader where loads are not reordered (x86), which reading a
 * bucket between two reads of its sequence count relies on; elsewhere
 * identities come from the endpoints map alone. */
const volatile __u8 ep_fast = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct cidr_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} world_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__type(key, struct shadow_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} shadow_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct subject_key);
	__type(value, __u8);
} subjects SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct frag_key);
	__type(value, struct frag_ports);
} frags SEC(".maps");

/* New-flow announcements go to a ring per CPU (see struct ev_ctl) in
 * memory-mapped arrays, which the program writes with plain stores and
 * the recorder drains by polling: a BPF ring buffer's helper call, lock
 * and commit cost a new flow about 75 ns here, a quarter of its time. The
 * loader sizes both arrays for the machine's possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EV_PER_CPU);
	__type(key, __u32);
	__type(value, struct flow_event);
	__uint(map_flags, BPF_F_MMAPABLE);
} posture_evring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ev_ctl);
	__uint(map_flags, BPF_F_MMAPABLE);
} posture_evctl SEC(".maps");

/* Set by the loader where stores may become visible out of order (not
 * x86): head is then published with an atomic exchange, which orders
 * the event's stores before it. On x86 a plain store already does. */
const volatile __u8 ev_ordered_publish = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} dns_events SEC(".maps");

/* A coarse clock user space advances a few times a second, so the
 * per-packet path stores a last-seen time without a helper call; zero
 * (nobody ticking, as under PROG_TEST_RUN) falls back to the kernel's. */
__u64 clock_ns = 0;

/* The policy generation verdict-cache entries must carry to count (see
 * posture.h); zero until user space first writes the maps. */
__u32 policy_gen = 0;

#define VC_ENTRIES 2048
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VC_ENTRIES);
	__type(key, __u32);
	__type(value, struct vc_entry);
} verdict_cache SEC(".maps");

/* Referenced so bpf2go emits Go types for structs used only through ring
 * buffers and map keys written from user space. */
const struct flow_event *unused_flow_event __attribute__((unused));
const struct ev_ctl *unused_ev_ctl __attribute__((unused));
const struct ep_bucket *unused_ep_bucket __attribute__((unused));
const struct dns_event *unused_dns_event __attribute__((unused));
const enum stat_index *unused_stat_index __attribute__((unused));

struct pkt {
	__u8 saddr[AF_ADDR_LEN];
	__u8 daddr[AF_ADDR_LEN];
	__be16 sport;
	__be16 dport;
	__u32 l4_payload; /* offset of the L4 payload, 0 when unknown */
	__u8 proto;
	__u8 tcp_flags;
	__u8 looks_like_reply; /* SYN+ACK, echo reply: oriented as a response */
	__u8 midstream_guess;  /* no handshake seen: orientation is a guess */
	__u8 v4;               /* addresses are IPv4-mapped: posture_flows4 */
};

static __always_inline __u64 stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&posture_stats, &idx);
	if (!v)
		return 0;
	return ++*v; /* per-CPU: no atomic needed */
}

/* eq40 compares two 40-byte keys (struct flow_key, struct vc_key) as
 * five words. */
static __always_inline int eq40(const void *a, const void *b)
{
	const __u64 *x = a, *y = b;
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

static __always_inline void map_v4(__u8 *dst, const __u8 *src)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, src, 4);
}

/* parse_l4 reads ports and flags at off; protocol-specific orientation
 * hints come from the handshake (TCP) or message type (ICMP). Returns 0 on
 * success, -1 for truncated headers, 1 for related traffic without a flow
 * of its own (ICMP errors, neighbour discovery). */
static __always_inline int parse_l4(struct __sk_buff *skb, struct pkt *p, __u32 off)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct hdr_tcp *t = data + off;
		if ((void *)(t + 1) > data_end)
			return -1;
		p->sport = t->sport;
		p->dport = t->dport;
		p->tcp_flags = t->flags;
		__u32 doff = (t->doff_res >> 4) * 4;
		if (doff >= sizeof(*t))
			p->l4_payload = off + doff;
		if ((t->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
			p->looks_like_reply = 1;
		else if (!(t->flags & TCP_SYN))
			p->midstream_guess = 1;
		return 0;
	}
	case IPPROTO_UDP:
	case IPPROTO_SCTP: {
		struct hdr_ports *u = data + off;
		if ((void *)(u + 1) > data_end)
			return -1;
		p->sport = u->sport;
		p->dport = u->dport;
		if (p->proto == IPPROTO_UDP)
			p->l4_payload = off + 8;
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct hdr_icmp *c = data + off;
		if ((void *)(c + 1) > data_end)
			return -1;
		__u8 req = p->proto == IPPROTO_ICMP ? 8 : 128;
		__u8 rep = p->proto == IPPROTO_ICMP ? 0 : 129;
		if (c->type == req) {
			p->sport = c->id;
			p->dport = bpf_htons(req);
		} else if (c->type == rep) {
			p->sport = bpf_htons(req);
			p->dport = c->id;
			p->looks_like_reply = 1;
		} else if (p->proto == IPPROTO_ICMP) {
			/* destination unreachable, source quench, redirect, time
			 * exceeded, parameter problem: about another flow */
			if (c->type == 3 || c->type == 4 || c->type == 5 || c->type == 11 ||
			    c->type == 12)
				return 1;
			p->dport = bpf_htons(c->type);
		} else {
			/* ICMPv6 beyond echo is errors (about another flow) and
			 * link-local control: neighbour and router discovery,
			 * multicast listener reports; none is a pod's connection */
			return 1;
		}
		return 0;
	}
	}
	return 0;
}

static __always_inline void frag_key_of(struct frag_key *fk, struct pkt *p, __u32 id)
{
	__builtin_memcpy(fk->saddr, p->saddr, AF_ADDR_LEN);
	__builtin_memcpy(fk->daddr, p->daddr, AF_ADDR_LEN);
	fk->id = id;
	fk->proto = p->proto;
	fk->pad[0] = fk->pad[1] = fk->pad[2] = 0;
}

/* handle_fragment parses L4 of a first fragment and remembers its ports,
 * or recovers the ports of a later fragment. */
static __always_inline int handle_fragment(struct __sk_buff *skb, struct pkt *p, __u32 off,
					   __u32 id, int first)
{
	struct frag_key fk;
	frag_key_of(&fk, p, id);
	stat_inc(STAT_FRAGMENTS);
	if (first) {
		int r = parse_l4(skb, p, off);
		if (r != 0)
			return r;
		struct frag_ports fp = {.sport = p->sport, .dport = p->dport};
		bpf_map_update_elem(&frags, &fk, &fp, BPF_ANY);
		return 0;
	}
	struct frag_ports *fp = bpf_map_lookup_elem(&frags, &fk);
	if (!fp) {
		stat_inc(STAT_FRAG_UNKNOWN);
		return 1;
	}
	p->sport = fp->sport;
	p->dport = fp->dport;
	p->l4_payload = 0;
	if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		__u16 req = p->proto == IPPROTO_ICMP ? 8 : 128;
		p->looks_like_reply = p->sport == bpf_htons(req);
	}
	return 0;
}

/* parse fills p from the packet. Returns 0 for a packet that belongs to a
 * flow, 1 for one that is counted but makes no flow, -1 for non-IP or
 * truncated packets. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct hdr_eth *eth = data;
	__u32 off = sizeof(*eth);

	if ((void *)(eth + 1) > data_end) {
		stat_inc(STAT_TRUNCATED);
		return -1;
	}
	__be16 proto = eth->proto;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct hdr_vlan *v = data + off;
		if ((void *)(v + 1) > data_end) {
			stat_inc(STAT_TRUNCATED);
			return -1;
		}
		proto = v->proto;
		off += sizeof(*v);
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct hdr_ipv4 *ip = data + off;
		if ((void *)(ip + 1) > data_end) {
			stat_inc(STAT_TRUNCATED);
			return -1;
		}
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip)) {
			stat_inc(STAT_TRUNCATED);
			return -1;
		}
		map_v4(p->saddr, ip->saddr);
		map_v4(p->daddr, ip->daddr);
		p->v4 = 1;
		p->proto = ip->proto;
		off += ihl;
		if (p->proto == IPPROTO_IGMP)
			return 1; /* multicast membership reports: link-local control */
		__u16 frag = bpf_ntohs(ip->frag_off);
		int r;
		if (frag & 0x3fff)
			r = handle_fragment(skb, p, off, bpf_ntohs(ip->id), (frag & 0x1fff) == 0);
		else
			r = parse_l4(skb, p, off);
		if (r < 0)
			stat_inc(STAT_TRUNCATED);
		return r;
	}
	if (proto != bpf_htons(ETH_P_IPV6)) {
		stat_inc(STAT_NON_IP);
		return -1;
	}

	struct hdr_ipv6 *ip6 = data + off;
	if ((void *)(ip6 + 1) > data_end) {
		stat_inc(STAT_TRUNCATED);
		return -1;
	}
	__builtin_memcpy(p->saddr, ip6->saddr, AF_ADDR_LEN);
	__builtin_memcpy(p->daddr, ip6->daddr, AF_ADDR_LEN);
	__u8 nh = ip6->nexthdr;
	off += sizeof(*ip6);

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		__u8 *h = data + off;
		if (nh != 0 && nh != 43 && nh != 60 && nh != 44 && nh != 51)
			break;
		if ((void *)(h + 8) > data_end) {
			stat_inc(STAT_TRUNCATED);
			return -1;
		}
		if (nh == 44) {
			/* fragment header: offset in the top 13 bits of bytes 2-3 */
			__u16 fo = ((__u16)h[2] << 8) | h[3];
			__u32 id = ((__u32)h[4] << 24) | ((__u32)h[5] << 16) | ((__u32)h[6] << 8) | h[7];
			p->proto = h[0];
			int r = handle_fragment(skb, p, off + 8, id, (fo >> 3) == 0);
			if (r < 0)
				stat_inc(STAT_TRUNCATED);
			return r;
		}
		__u32 len = nh == 51 ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
		nh = h[0];
		off += len;
	}
	p->proto = nh;
	int r = parse_l4(skb, p, off);
	if (r < 0)
		stat_inc(STAT_TRUNCATED);
	return r;
}

/* ep_hash picks an endpoint's bucket; the loader's Go twin must agree. */
static __always_inline __u32 ep_hash(__u64 a0, __u64 a1)
{
	__u64 h = (a0 * 0x9e3779b97f4a7c15ULL) ^ a1;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (__u32)h & (EP_BUCKETS - 1);
}

/* ep_find looks addr up in the endpoint table: 1 with *id set when it
 * is there, 0 when it is no endpoint, -1 when only the endpoints map can
 * say. */
static __always_inline int ep_find(const __u8 *addr, __u32 *id)
{
	__u64 a0 = ((const __u64 *)addr)[0], a1 = ((const __u64 *)addr)[1];
	__u32 b = ep_hash(a0, a1);
	struct ep_bucket *e = bpf_map_lookup_elem(&posture_eptab, &b);
	if (!e)
		return -1;
	__u32 seq = *(volatile __u32 *)&e->seq;
	if (seq & 1)
		return -1;
	asm volatile("" ::: "memory");
	__u32 got = 0;
#pragma unroll
	for (int i = 0; i < EP_WAYS; i++)
		if (e->addr[i][0] == a0 && e->addr[i][1] == a1)
			got = e->id[i];
	asm volatile("" ::: "memory");
	if (*(volatile __u32 *)&e->seq != seq)
		return -1;
	if (got) {
		*id = got;
		return 1;
	}
	return seq & EP_OVERFLOW ? -1 : 0;
}

/* identity_of is a global function so the verifier checks it once: its
 * table lookup, inlined in the new-flow path, multiplied the states the
 * verifier walked there almost fourfold, close to its budget. */
__attribute__((noinline)) __u32 identity_of(const struct endpoint_key *a)
{
	if (!a)
		return IDENTITY_WORLD;
	const __u8 *addr = a->addr;
	__u32 fast = 0;
	int r = ep_fast ? ep_find(addr, &fast) : -1;
	if (r > 0)
		return fast;
	__u32 *id = r < 0 ? bpf_map_lookup_elem(&endpoints, addr) : NULL;
	if (id)
		return *id;
	struct cidr_key ck = {.prefixlen = 128};
	__builtin_memcpy(ck.addr, addr, AF_ADDR_LEN);
	id = bpf_map_lookup_elem(&world_cidrs, &ck);
	if (id)
		return *id;
	return IDENTITY_WORLD;
}

static __always_inline __u8 shadow_verdict(__u32 subject, __u32 peer, __u8 dir, __u8 proto,
					   __be16 port)
{
	struct subject_key sk = {.identity = subject, .dir = dir};
	__u8 *def = bpf_map_lookup_elem(&subjects, &sk);
	if (!def)
		return VERDICT_NOT_SELECTED;
	struct shadow_key k = {
		.prefixlen = 96,
		.subject = subject,
		.peer = peer,
		.dir = dir,
		.proto = proto,
		.port = port,
	};
	__u8 *v = bpf_map_lookup_elem(&shadow_policy, &k);
	return v ? *v : *def;
}

/* key_less reports whether (a, pa) sorts before (b, pb). */
static __always_inline int key_less(const __u8 *a, __be16 pa, const __u8 *b, __be16 pb)
{
	__u64 a0 = bpf_be64_to_cpu(*(const __u64 *)a), b0 = bpf_be64_to_cpu(*(const __u64 *)b);
	if (a0 != b0)
		return a0 < b0;
	__u64 a1 = bpf_be64_to_cpu(*(const __u64 *)(a + 8)), b1 = bpf_be64_to_cpu(*(const __u64 *)(b + 8));
	if (a1 != b1)
		return a1 < b1;
	return bpf_ntohs(pa) < bpf_ntohs(pb);
}

static __always_inline void copy_dns(struct __sk_buff *skb, struct pkt *p)
{
	if (!p->l4_payload || skb->len <= p->l4_payload)
		return;
	__u32 len = skb->len - p->l4_payload;
	struct dns_event *ev = bpf_ringbuf_reserve(&dns_events, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(STAT_DNS_LOST);
		return;
	}
	__u32 cap = len;
	if (cap > DNS_MAX_PAYLOAD)
		cap = DNS_MAX_PAYLOAD;
	ev->time_ns = bpf_ktime_get_coarse_ns();
	__builtin_memcpy(ev->saddr, p->saddr, AF_ADDR_LEN);
	__builtin_memcpy(ev->daddr, p->daddr, AF_ADDR_LEN);
	ev->ifindex = skb->ifindex;
	ev->len = len > 0xffff ? 0xffff : len;
	ev->proto = p->proto;
	if (cap == 0 || bpf_skb_load_bytes(skb, p->l4_payload, ev->data, cap) != 0) {
		bpf_ringbuf_discard(ev, 0);
		stat_inc(STAT_TRUNCATED);
		return;
	}
	ev->caplen = cap;
	/* answers are rare and names must reach user space before the
	 * client's connection does, so always wake the reader */
	bpf_ringbuf_submit(ev, 0);
	stat_inc(STAT_DNS_COPIED);
}

/* announce counts a new flow and puts it on this CPU's event ring. A
 * full ring (nobody reading, or too slowly) loses the announcement, not
 * the flow: the flow's entry holds it, and user space finds it on the
 * next scan. */
static __always_inline void announce(const struct flow_key *k, const struct flow_value *v, __u64 now)
{
	stat_inc(STAT_NEW_FLOWS);
	__u32 cpu = bpf_get_smp_processor_id();
	struct ev_ctl *c = bpf_map_lookup_elem(&posture_evctl, &cpu);
	if (!c)
		return;
	__u64 head = c->head;
	if (head - *(volatile __u64 *)&c->tail >= EV_PER_CPU) {
		stat_inc(STAT_EVENTS_LOST);
		return;
	}
	__u32 idx = cpu * EV_PER_CPU + ((__u32)head & (EV_PER_CPU - 1));
	struct flow_event *ev = bpf_map_lookup_elem(&posture_evring, &idx);
	if (!ev)
		return;
	__builtin_memcpy(&ev->key, k, sizeof(*k));
	ev->time_ns = now;
	ev->src_identity = v->src_identity;
	ev->dst_identity = v->dst_identity;
	ev->ifindex = v->ifindex;
	ev->initiator_is_b = v->initiator_is_b;
	ev->verdict = v->verdict;
	ev->flags = v->flags;
	ev->pad = 0;
	if (ev_ordered_publish) {
		__sync_lock_test_and_set(&c->head, head + 1);
	} else {
		/* x86 keeps stores in order; the compiler must too */
		asm volatile("" ::: "memory");
		*(volatile __u64 *)&c->head = head + 1;
	}
}

/* vc_hash picks a verdict-cache slot for a key. */
static __always_inline __u32 vc_hash(const struct vc_key *q)
{
	const __u64 *w = (const __u64 *)q;
	__u64 h = (w[0] ^ w[1] ^ 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ w[2] ^ w[3]) * 0x94d049bb133111ebULL;
	h = (h ^ w[4]) * 0xbf58476d1ce4e5b9ULL;
	return (__u32)(h >> 40) & (VC_ENTRIES - 1);
}

/* classify fills a new flow's identities and shadow verdict, from this
 * CPU's verdict cache when it has them for the current policy
 * generation. */
static __always_inline void classify(struct flow_value *v, const __u8 *iaddr, const __u8 *raddr,
				     __be16 rport, __u8 proto, __u8 idir)
{
	struct vc_key q __attribute__((aligned(8)));
	__builtin_memcpy(q.iaddr, iaddr, AF_ADDR_LEN);
	__builtin_memcpy(q.raddr, raddr, AF_ADDR_LEN);
	q.rport = rport;
	q.proto = proto;
	q.idir = idir;
	q.gen = policy_gen;
	__u32 slot = vc_hash(&q);
	struct vc_entry *c = bpf_map_lookup_elem(&verdict_cache, &slot);
	if (c && q.gen && eq40(&c->key, &q)) {
		v->src_identity = c->src_identity;
		v->dst_identity = c->dst_identity;
		v->verdict = c->verdict;
		return;
	}
	v->src_identity = identity_of((const struct endpoint_key *)iaddr);
	v->dst_identity = identity_of((const struct endpoint_key *)raddr);
	if (idir == DIR_EGRESS)
		v->verdict = shadow_verdict(v->src_identity, v->dst_identity, DIR_EGRESS, proto, rport);
	else
		v->verdict = shadow_verdict(v->dst_identity, v->src_identity, DIR_INGRESS, proto, rport);
	if (c && q.gen) {
		__builtin_memcpy(&c->key, &q, sizeof(q));
		c->src_identity = v->src_identity;
		c->dst_identity = v->dst_identity;
		c->verdict = v->verdict;
	}
}

/* ft_hash mixes the canonical key's five words, finishing with
 * MurmurHash3's 64-bit finaliser so that flows differing only in a port
 * spread over every bucket. The table is not seeded: a pod that crafts
 * colliding flows only fills its own buckets, whose flows then go to the
 * LRU maps. */
static __always_inline __u64 ft_hash(const struct flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = w[0] ^ (w[1] * 0x9e3779b97f4a7c15ULL) ^ (w[2] * 0xbf58476d1ce4e5b9ULL) ^
		  (w[3] * 0x94d049bb133111ebULL) ^ w[4];
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static __always_inline struct ft_tags *ft_bucket(__u64 h)
{
	__u32 idx = (__u32)h & ft_mask;
	return bpf_map_lookup_elem(&posture_fttags, &idx);
}

static __always_inline struct ft_slot *ft_entry(__u64 state)
{
	__u32 idx = (state & FT_IDX_MASK) >> FT_IDX_SHIFT;
	return bpf_map_lookup_elem(&posture_flowtab, &idx);
}

#define FT_TAG(h) ((h) & 0xffffffff00000000ULL)
#define FT_FULL FT_WAYS

/* ft_find returns the flow's entry, or NULL with *free (FT_FULL on entry)
 * set to the way to create it from, if any: the first reclaimed or empty
 * way, or one another CPU is filling with a flow of the same tag, which
 * may be this one; ft_claim sorts that out. */
static __always_inline struct ft_slot *ft_find(struct ft_tags *t, const struct flow_key *k, __u64 tag,
					       int *free)
{
#pragma unroll
	for (int i = 0; i < FT_WAYS; i++) {
		__u64 s = *(volatile __u64 *)&t->state[i];
		if ((s & ~FT_IDX_MASK) == (tag | FT_VALID)) {
			struct ft_slot *e = ft_entry(s);
			if (e && eq40(&e->key, k))
				return e;
		}
		if ((s & FT_KIND_MASK) == FT_TOMB && *free == FT_FULL)
			*free = i;
		if (s == FT_EMPTY || s == (tag | FT_BUSY)) {
			if (*free == FT_FULL || s != FT_EMPTY)
				*free = i;
			return NULL;
		}
	}
	return NULL;
}

static __always_inline struct ft_pool *ft_pool(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&posture_ftpool, &zero);
}

/* ft_overflowed reports whether any flow went to the LRU maps, after
 * which a flow missing from the table may be there even when its bucket
 * has room. */
static __always_inline int ft_overflowed(void)
{
	struct ft_pool *pool = ft_pool();
	return !pool || *(volatile __u64 *)&pool->lru;
}

/* ft_take_run gives the CPU a new run: from the never-used part of the
 * pool while there is one, then from the ring of reclaimed entries. */
static __always_inline int ft_take_run(struct ft_run *r)
{
	struct ft_pool *pool = ft_pool();
	if (!pool)
		return 0;
	if (*(volatile __u64 *)&pool->next < ft_slots) {
		__u64 start = __sync_fetch_and_add(&pool->next, FT_CHUNK);
		if (start < ft_slots) {
			r->next = start;
			r->end = start + FT_CHUNK < ft_slots ? start + FT_CHUNK : ft_slots;
			r->ring = 0;
			return 1;
		}
	}
	__u64 head = *(volatile __u64 *)&pool->free_head;
	__u64 tail = *(volatile __u64 *)&pool->free_tail;
	if (head >= tail)
		return 0;
	__u64 n = tail - head < FT_CHUNK ? tail - head : FT_CHUNK;
	/* a CPU that loses the race takes no run this time: its flow goes
	 * to the LRU maps */
	if (__sync_val_compare_and_swap(&pool->free_head, head, head + n) != head)
		return 0;
	r->next = head;
	r->end = head + n;
	r->ring = 1;
	return 1;
}

/* ft_reserve finds this CPU's next pool entry (its index in *entry),
 * taking a new run when the current one is used up; the caller commits it
 * with run->next++. */
static __always_inline struct ft_slot *ft_reserve(struct ft_run **run, __u32 *entry)
{
	__u32 zero = 0;
	struct ft_run *r = bpf_map_lookup_elem(&ft_runs, &zero);
	if (!r)
		return NULL;
	if (r->next >= r->end && !ft_take_run(r))
		return NULL;
	*run = r;
	__u32 idx = r->next;
	if (r->ring) {
		__u32 pos = r->next & ft_ring_mask;
		__u64 *e = bpf_map_lookup_elem(&posture_ftfree, &pos);
		if (!e)
			return NULL;
		idx = *e;
	}
	*entry = idx;
	return bpf_map_lookup_elem(&posture_flowtab, &idx);
}

/* How long a CPU waits for another to publish the entry of the flow it is
 * about to create too: the other is a few stores away from done. */
#define FT_SPIN 256

struct ft_wait {
	__u64 *state;
	__u64 s;
};

static long ft_wait_step(__u64 i, void *ctx)
{
	struct ft_wait *w = ctx;
	w->s = *(volatile __u64 *)w->state;
	return (w->s & FT_KIND_MASK) != FT_BUSY;
}

enum { FT_CREATED, FT_EXISTS, FT_NO_ROOM, FT_STUCK };

/* ft_claim creates the flow in its bucket from way `from` on. FT_CREATED:
 * way *way is claimed for the caller to fill and publish. FT_EXISTS:
 * another CPU created the same flow meanwhile, at *e. FT_NO_ROOM: the
 * bucket filled up. FT_STUCK: a way that may hold this flow was not
 * published in time. */
static __always_inline int ft_claim(struct ft_tags *t, const struct flow_key *k, __u64 tag, int from,
				    struct ft_slot **e, int *way)
{
#pragma unroll
	for (int i = 0; i < FT_WAYS; i++) {
		if (i < from)
			continue;
		__u64 s = *(volatile __u64 *)&t->state[i];
		if (s == FT_EMPTY || (s & FT_KIND_MASK) == FT_TOMB) {
			__u64 old = s;
			s = __sync_val_compare_and_swap(&t->state[i], old, tag | FT_BUSY);
			if (s == old) {
				*way = i;
				return FT_CREATED;
			}
		}
		if (FT_TAG(s) != tag)
			continue;
		if ((s & FT_KIND_MASK) == FT_BUSY) {
			/* rare: both CPUs saw the flow's first packets at once */
			struct ft_wait w = {.state = &t->state[i], .s = s};
			bpf_loop(FT_SPIN, ft_wait_step, &w, 0);
			s = w.s;
		}
		if ((s & FT_KIND_MASK) != FT_VALID)
			return FT_STUCK;
		struct ft_slot *x = ft_entry(s);
		if (x && eq40(&x->key, k)) {
			*e = x;
			return FT_EXISTS;
		}
	}
	return FT_NO_ROOM;
}

/* One call site per map: were clang to merge the two calls into one with
 * the map chosen by a register, the verifier could no longer inline the
 * lookup; the empty asm after one of them keeps them apart. */
static __always_inline struct flow_value *flow_lookup(const struct flow_key *k,
						      const struct flow_key4 *k4, int v4)
{
	if (v4) {
		struct flow_value *e = bpf_map_lookup_elem(&posture_flows4, k4);
		asm volatile("" : "+r"(e));
		return e;
	}
	return bpf_map_lookup_elem(&posture_flows, k);
}

static __always_inline long flow_create(const struct flow_key *k, const struct flow_key4 *k4,
					int v4, const struct flow_value *v)
{
	if (v4) {
		long err = bpf_map_update_elem(&posture_flows4, k4, v, BPF_NOEXIST);
		asm volatile("" : "+r"(err));
		return err;
	}
	return bpf_map_update_elem(&posture_flows, k, v, BPF_NOEXIST);
}

/* count_packet adds a packet to an entry another CPU created. */
static __always_inline void count_packet(struct flow_value *e, int pkt_is_a, __u64 segs, __u32 len)
{
	int fwd = pkt_is_a != e->initiator_is_b;
	__sync_fetch_and_add(fwd ? &e->packets_fwd : &e->packets_rev, segs);
	__sync_fetch_and_add(fwd ? &e->bytes_fwd : &e->bytes_rev, len);
}

/* new_flow creates the flow's entry: in its table bucket from way
 * `from` on when it has room, in the LRU maps otherwise. */
static __always_inline void new_flow(struct __sk_buff *skb, struct pkt *p, struct flow_key *k,
				     struct flow_key4 *k4, int pkt_is_a, __u64 now, __u64 segs,
				     struct ft_tags *t, __u64 tag, int from)
{
	/* The initiator is the packet's sender unless the packet looks like a
	 * response (SYN+ACK, echo reply), or no handshake was seen and the
	 * sender uses the lower port, which is usually the service's. */
	int sender_initiates = !p->looks_like_reply;
	if (p->midstream_guess && bpf_ntohs(p->sport) < bpf_ntohs(p->dport))
		sender_initiates = 0;
	int init_is_a = pkt_is_a == sender_initiates;

	struct flow_value v = {};
	v.first_ns = now;
	v.last_ns = now;
	v.conns = 1;
	v.ifindex = skb->ifindex;
	v.initiator_is_b = !init_is_a;
	if (p->looks_like_reply || p->midstream_guess || !sender_initiates)
		v.flags |= FLOW_F_MIDSTREAM;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		v.flags &= ~FLOW_F_MIDSTREAM;
	if (sender_initiates) {
		v.packets_fwd = segs;
		v.bytes_fwd = skb->len;
		v.tcp_flags_fwd = p->tcp_flags;
	} else {
		v.packets_rev = segs;
		v.bytes_rev = skb->len;
		v.tcp_flags_rev = p->tcp_flags;
	}

	const __u8 *iaddr = init_is_a ? k->addr_a : k->addr_b;
	const __u8 *raddr = init_is_a ? k->addr_b : k->addr_a;
	__be16 rport = init_is_a ? k->port_b : k->port_a;
	/* pod-relative direction of initiator -> responder packets */
	__u8 idir = init_is_a ? k->dir : (k->dir == DIR_EGRESS ? DIR_INGRESS : DIR_EGRESS);
	classify(&v, iaddr, raddr, rport, p->proto, idir);

	struct ft_run *run = NULL;
	__u32 entry = 0;
	struct ft_slot *slot = t && from < FT_FULL ? ft_reserve(&run, &entry) : NULL;
	if (t && slot && run) {
		struct ft_slot *e = NULL;
		int way = 0;
		switch (ft_claim(t, k, tag, from, &e, &way)) {
		case FT_CREATED: {
			run->next++;
			__builtin_memcpy(&slot->key, k, sizeof(*k));
			__builtin_memcpy(&slot->val, &v, sizeof(v));
			/* an atomic exchange orders the stores above before it */
			__sync_lock_test_and_set(&t->state[way & (FT_WAYS - 1)],
						 tag | ((__u64)entry << FT_IDX_SHIFT) | FT_VALID);
			announce(k, &v, now);
			return;
		}
		case FT_EXISTS:
			if (e)
				count_packet(&e->val, pkt_is_a, segs, skb->len);
			return;
		case FT_STUCK:
			stat_inc(STAT_FLOW_UPDATE_FAILED);
			return;
		}
		/* FT_NO_ROOM: the bucket filled up meanwhile */
	}
	if (flow_create(k, k4, p->v4, &v) != 0) {
		/* another CPU created it first: count there */
		struct flow_value *e = flow_lookup(k, k4, p->v4);
		if (!e) {
			stat_inc(STAT_FLOW_UPDATE_FAILED);
			return;
		}
		count_packet(e, pkt_is_a, segs, skb->len);
		return;
	}
	struct ft_pool *pool = ft_pool();
	if (pool && !*(volatile __u64 *)&pool->lru)
		__sync_fetch_and_add(&pool->lru, 1);
	announce(k, &v, now);
}

/* account counts a parsed packet toward its flow. It is a global
 * function so the verifier checks it once, for any parsed packet, instead
 * of once per way through the parser: the flow table's ways multiplied by
 * the parser's paths exceed the verifier's budget. */
__attribute__((noinline)) int account(struct __sk_buff *skb, struct pkt *p, __u8 dir)
{
	if (!skb || !p)
		return 0;

	/* canonical key: one lookup serves both directions of a connection */
	struct flow_key k __attribute__((aligned(8)));
	int pkt_is_a = key_less(p->saddr, p->sport, p->daddr, p->dport);
	if (pkt_is_a) {
		__builtin_memcpy(k.addr_a, p->saddr, AF_ADDR_LEN);
		__builtin_memcpy(k.addr_b, p->daddr, AF_ADDR_LEN);
		k.port_a = p->sport;
		k.port_b = p->dport;
		k.dir = dir;
	} else {
		__builtin_memcpy(k.addr_a, p->daddr, AF_ADDR_LEN);
		__builtin_memcpy(k.addr_b, p->saddr, AF_ADDR_LEN);
		k.port_a = p->dport;
		k.port_b = p->sport;
		k.dir = dir == DIR_EGRESS ? DIR_INGRESS : DIR_EGRESS;
	}
	k.proto = p->proto;
	k.pad[0] = k.pad[1] = 0;
	struct flow_key4 k4;
	if (p->v4) {
		__builtin_memcpy(k4.addr_a, k.addr_a + 12, 4);
		__builtin_memcpy(k4.addr_b, k.addr_b + 12, 4);
		k4.port_a = k.port_a;
		k4.port_b = k.port_b;
		k4.proto = k.proto;
		k4.dir = k.dir;
		k4.pad[0] = k4.pad[1] = 0;
	}

	__u64 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	__u64 h = ft_hash(&k), tag = FT_TAG(h);
	struct ft_tags *t = ft_bucket(h);
	int from = FT_FULL;
	struct flow_value *e = NULL;
	if (t) {
		struct ft_slot *x = ft_find(t, &k, tag, &from);
		if (x)
			e = &x->val;
	}
	if (!e && (from == FT_FULL || ft_overflowed()))
		e = flow_lookup(&k, &k4, p->v4);
	if (e) {
		__u64 now = clock_ns;
		if (!now)
			now = bpf_ktime_get_coarse_ns();
		int fwd = pkt_is_a != e->initiator_is_b;
		if (fwd && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
		    ((e->tcp_flags_fwd | e->tcp_flags_rev) & (TCP_FIN | TCP_RST))) {
			/* the 4-tuple was reused for a new connection */
			__sync_fetch_and_add(&e->conns, 1);
			e->tcp_flags_fwd = 0;
			e->tcp_flags_rev = 0;
			announce(&k, e, now);
		}
		if (fwd) {
			__sync_fetch_and_add(&e->packets_fwd, segs);
			__sync_fetch_and_add(&e->bytes_fwd, skb->len);
			if ((e->tcp_flags_fwd | p->tcp_flags) != e->tcp_flags_fwd)
				e->tcp_flags_fwd |= p->tcp_flags;
		} else {
			__sync_fetch_and_add(&e->packets_rev, segs);
			__sync_fetch_and_add(&e->bytes_rev, skb->len);
			if ((e->tcp_flags_rev | p->tcp_flags) != e->tcp_flags_rev)
				e->tcp_flags_rev |= p->tcp_flags;
		}
		if (e->last_ns < now)
			e->last_ns = now;
	} else {
		__u64 now = clock_ns;
		if (!now)
			now = bpf_ktime_get_coarse_ns();
		new_flow(skb, p, &k, &k4, pkt_is_a, now, segs, t, tag, from);
	}

	if (dir == DIR_INGRESS && p->sport == bpf_htons(53) &&
	    (p->proto == IPPROTO_UDP || p->proto == IPPROTO_TCP))
		copy_dns(skb, p);
	return 0;
}

static __always_inline int observe(struct __sk_buff *skb, __u8 dir)
{
	stat_inc(STAT_PACKETS);

	if ((long)skb->data_end - (long)skb->data < PULL_LEN && skb->len > skb->data_end - skb->data)
		bpf_skb_pull_data(skb, skb->len < PULL_LEN ? skb->len : PULL_LEN);

	struct pkt p = {};
	int r = parse(skb, &p);
	if (r != 0) {
		if (r > 0)
			stat_inc(STAT_RELATED);
		return TC_ACT_UNSPEC;
	}
	account(skb, &p, dir);
	return TC_ACT_UNSPEC;
}

/* Attached where the host side of a pod's veth receives: the pod's egress. */
SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	return observe(skb, DIR_EGRESS);
}

/* Attached where the host side of a pod's veth transmits: the pod's ingress. */
SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	return observe(skb, DIR_INGRESS);
}

/* Does nothing; the per-packet cost benchmark's baseline. */
SEC("tc")
int empty(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}
