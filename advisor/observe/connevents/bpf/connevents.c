// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * Connection events: counts, per network namespace, cgroup, process and
 * destination, the connections opened, the connect() calls that failed
 * before a local port was bound (and which of those were a thread's
 * immediate retry), and the active closes, from the
 * sock:inet_sock_set_state tracepoint (advisor/KERNEL.md, "Connection
 * events"). User space drains the maps once per sample.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/* The kernel loads tracing programs under a GPL-compatible licence only. */
char __license[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TASK_COMM_LEN 16

/* TCP states (include/net/tcp_states.h). */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7

/* Where a flow's port is: the remote port of an outgoing connection (one
 * that went through connect()), or the local port of any other socket (an
 * accepted connection, whose peer's port is a new one each time). */
#define DIR_OUT 0
#define DIR_LOCAL_PORT 1

/* netns is the namespace's cookie (struct net's net_cookie), which the
 * kernel never reuses within a boot, unlike the inode of a freed namespace,
 * which the next new one takes. 72 bytes, no padding. */
struct flow_key {
	__u64 netns;
	__u64 cgroup;
	__u32 tgid;
	__u8 comm[TASK_COMM_LEN];
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 port;
	__u8 family;
	__u8 dir;
};

/* retries counts the failures that were an immediate retry of the same
 * thread's previous failure towards the same destination: failures less
 * retries are the attempts a program made. */
struct counts {
	__u64 opens;
	__u64 failures;
	__u64 closes;
	__u64 retries;
};

/* A thread's last connect() that found no port: where it went and when. */
struct last_failure {
	__u64 netns;
	__u64 ns;
	__u64 daddr[2];
	__u16 port;
	__u8 family;
	__u8 chain;
	__u8 pad[4];
};

/* A failure this soon after the same thread's previous one towards the same
 * destination is a retry of it: Go's dialer closes the socket, makes a new
 * one and calls connect() again at once, twice, on EADDRNOTAVAIL. After
 * MAX_RETRIES in a row the next call is a new attempt. */
#define RETRY_NS 1000000ULL
#define MAX_RETRIES 2

/* The last port-less failure per thread (pid_tgid's lower half), touched
 * only when connect() finds no port: the success path never reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct last_failure);
} last_failures SEC(".maps");

/* The overflow slots: an event whose flow found its map full, and one whose
 * namespace then found netns_overflow full too. */
#define OVERFLOW_FLOWS 0
#define OVERFLOW_NETNS 1

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct flow_key);
	__type(value, struct counts);
} flows SEC(".maps");

/* The events that found the flow map full, per namespace (cookie): a
 * namespace's totals are its flows' counts plus these, so that an event
 * costs one map lookup while the flows fit. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct counts);
} netns_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} overflows SEC(".maps");

static __always_inline void overflowed(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&overflows, &slot);
	if (n)
		(*n)++;
}

/* counter returns the counts for key in map, adding a zero entry when
 * there is none; NULL when the map is full. */
static __always_inline struct counts *counter(void *map, const void *key)
{
	struct counts *c = bpf_map_lookup_elem(map, key);
	if (c)
		return c;
	struct counts zero = {};
	bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline void count(struct counts *c, int what, int retry)
{
	if (what == TCP_SYN_SENT) {
		c->opens++;
	} else if (what == TCP_CLOSE) {
		c->failures++;
		c->retries += retry;
	} else {
		c->closes++;
	}
}

/* retried records thread tid's port-less failure towards key's destination
 * and says whether it retries the thread's previous one: the same
 * destination within RETRY_NS, fewer than MAX_RETRIES retries since the
 * last new attempt. */
static __always_inline int retried(__u32 tid, const struct flow_key *key)
{
	struct last_failure now = {};
	now.netns = key->netns;
	now.ns = bpf_ktime_get_ns();
	__builtin_memcpy(now.daddr, key->daddr, sizeof(now.daddr));
	now.port = key->port;
	now.family = key->family;
	int retry = 0;
	struct last_failure *prev = bpf_map_lookup_elem(&last_failures, &tid);
	if (prev && now.ns - prev->ns < RETRY_NS && prev->netns == now.netns &&
	    prev->port == now.port && prev->family == now.family &&
	    prev->daddr[0] == now.daddr[0] && prev->daddr[1] == now.daddr[1] &&
	    prev->chain < MAX_RETRIES) {
		retry = 1;
		now.chain = prev->chain + 1;
	}
	bpf_map_update_elem(&last_failures, &tid, &now, BPF_ANY);
	return retry;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	/*
	 * CLOSE -> SYN_SENT: connect() (tcp_v4_connect, tcp_v6_connect) sets
	 * SYN_SENT before inet_hash_connect() picks the port, in the caller's
	 * context. SYN_SENT -> CLOSE with no local port: inet_hash_connect()
	 * found none (EADDRNOTAVAIL) and connect() undid the state.
	 * ESTABLISHED -> FIN_WAIT1: this side closed first (tcp_close(),
	 * tcp_shutdown()), in the closing process's context.
	 * Every other change returns here, on the arguments alone: most of a
	 * connection's changes cost a few compares.
	 */
	int what;
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT)
		what = TCP_SYN_SENT;
	else if (oldstate == TCP_SYN_SENT && newstate == TCP_CLOSE)
		what = TCP_CLOSE;
	else if (oldstate == TCP_ESTABLISHED && newstate == TCP_FIN_WAIT1)
		what = TCP_FIN_WAIT1;
	else
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* The tracepoint's sk is a trusted BTF pointer: fields are read
	 * directly, each access relocated by CO-RE. */
	__u16 sport = sk->__sk_common.skc_num;
	if (what == TCP_CLOSE && sport != 0)
		return 0;

	struct flow_key key = {};
	key.netns = sk->__sk_common.skc_net.net->net_cookie;
	key.family = sk->__sk_common.skc_family;
	if (key.family == AF_INET) {
		__be32 s = sk->__sk_common.skc_rcv_saddr;
		__be32 d = sk->__sk_common.skc_daddr;
		__builtin_memcpy(key.saddr, &s, 4);
		__builtin_memcpy(key.daddr, &d, 4);
	} else if (key.family == AF_INET6) {
		BPF_CORE_READ_INTO(&key.saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&key.daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return 0;
	}
	key.port = bpf_ntohs(sk->__sk_common.skc_dport);
	/*
	 * An accepted socket is a copy of its listener (sk_clone_lock()),
	 * listen()'s backlog included; a socket connect() was called on never
	 * listened, and its backlog is 0. An accepted socket's active close is
	 * keyed by its local port, one entry per service, not one per client
	 * port. (SOCK_BINDPORT_LOCK cannot tell them: sk_clone_lock() clears
	 * it on the copy.)
	 */
	if (what == TCP_FIN_WAIT1 && sk->sk_max_ack_backlog != 0) {
		key.dir = DIR_LOCAL_PORT;
		key.port = sport;
		__builtin_memset(key.daddr, 0, sizeof(key.daddr));
	}
	key.cgroup = bpf_get_current_cgroup_id();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	key.tgid = pid_tgid >> 32;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	int retry = what == TCP_CLOSE ? retried((__u32)pid_tgid, &key) : 0;

	struct counts *c = counter(&flows, &key);
	if (c) {
		count(c, what, retry);
		return 0;
	}
	overflowed(OVERFLOW_FLOWS);
	c = counter(&netns_overflow, &key.netns);
	if (c)
		count(c, what, retry);
	else
		overflowed(OVERFLOW_NETNS);
	return 0;
}
