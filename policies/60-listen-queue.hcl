# Listen queue overflows: the application accepts connections slower than
# they arrive. A listener's backlog is min(the application's listen() backlog,
# net.core.somaxconn) and is fixed when listen() is called, so raising
# somaxconn alone changes nothing: advice, no sysctl.

rule "listen-queue-overflow" {
  topic    = "queues"
  severity = queues.listen_overflows_delta >= 100 ? "critical" : "warning"

  when = queues.listen_overflows_delta > 0 || queues.full_listeners > 0

  message = join("", [
    queues.listen_overflows_delta > 0 ? "${queues.listen_overflows_delta} connections overflowed a listen queue (${queues.listen_drops_delta} dropped) over the last ${round(window.seconds)} s" : "${queues.full_listeners} listener(s) have a full accept queue",
    queues.queued_listeners > 0 ? "; fullest: ${queues.top_listener.address} with ${queues.top_listener.queued} of ${queues.top_listener.backlog} queued" : "",
    queues.top_listener.owner.command != "" ? " (${queues.top_listener.owner.command}, pid ${queues.top_listener.owner.pid}${queues.top_listener.owner.unit != "" ? ", unit ${queues.top_listener.owner.unit}" : ""})" : "",
    ".",
  ])

  advice = join(" ", [
    "Raise the application's listen() backlog (nginx: listen ... backlog=N; HAProxy: backlog; Envoy: tcp_backlog_size)",
    "together with net.core.somaxconn (now ${sysctl.somaxconn}), which caps every backlog, then restart the listener;",
    "The same backlog bounds the SYN queue; net.ipv4.tcp_max_syn_backlog bounds neither (without syncookies it keeps the last quarter of it for peers proven alive). If the accept loop is saturated, add workers.",
  ])
}

# SYN queue overflows (advisor/KERNEL.md, "Counters"): a listener's request
# sockets (SYN_RECV, waiting for the handshake's last ACK) are bounded by
# the same backlog as its accept queue — the listen() backlog capped by
# net.core.somaxconn when listen() was called (inet_csk_reqsk_queue_is_full).
# Past it, tcp_conn_request() answers a SYN with a syncookie
# (TCPReqQFullDoCookies) or, with tcp_syncookies 0, drops it
# (TCPReqQFullDrop). tcp_max_syn_backlog is not that limit: without
# syncookies it only keeps its last quarter for peers proven alive.
# Advice, no sysctl: the backlog is the application's, fixed at listen().

rule "syn-queue-overflow" {
  topic    = "queues"
  severity = queues.req_q_full_drop_delta > 0 ? "critical" : "warning"

  when = queues.full_syn_queues > 0 || queues.req_q_full_drop_delta > 0 || queues.req_q_full_do_cookies_delta > 0

  message = join("", [
    queues.top_syn_queue.syn_recv > 0 ? "the SYN queue of ${queues.top_syn_queue.address} holds ${queues.top_syn_queue.syn_recv} request(s) in SYN_RECV against its limit of ${queues.top_syn_queue.backlog}, the listen() backlog capped by net.core.somaxconn (${sysctl.somaxconn})" : "a listener's SYN queue overflowed",
    queues.top_syn_queue.owner.command != "" ? " (${queues.top_syn_queue.owner.command}, pid ${queues.top_syn_queue.owner.pid}${queues.top_syn_queue.owner.unit != "" ? ", unit ${queues.top_syn_queue.owner.unit}" : ""})" : "",
    queues.req_q_full_drop_delta > 0 ? "; ${queues.req_q_full_drop_delta} SYNs found it full and were dropped (TCPReqQFullDrop) over the last ${round(window.seconds)} s, since net.ipv4.tcp_syncookies is ${sysctl.tcp_syncookies}" : "",
    queues.req_q_full_do_cookies_delta > 0 ? "; ${queues.req_q_full_do_cookies_delta} SYNs found it full and were answered with a syncookie (TCPReqQFullDoCookies) over the last ${round(window.seconds)} s" : "",
    ".",
  ])

  advice = join(" ", [
    "Handshakes that do not complete fill the SYN queue: clients or a path that lose the SYN-ACK or the last ACK, or a SYN flood.",
    "For real clients, raise the application's listen() backlog together with net.core.somaxconn, which caps it, and restart the listener: the same backlog bounds the SYN queue and the accept queue.",
    sysctl.tcp_syncookies == 0 ? "Turn net.ipv4.tcp_syncookies back on (1, the default) so a full SYN queue answers with cookies instead of dropping." : "",
    "net.ipv4.tcp_max_syn_backlog (${sysctl.tcp_max_syn_backlog}) is not this limit: without syncookies it only keeps its last quarter for peers already proven alive.",
  ])
}
