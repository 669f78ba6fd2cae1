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
    queues.top_listener.command != "" ? " (${queues.top_listener.command}, pid ${queues.top_listener.pid}${queues.top_listener.unit != "" ? ", unit ${queues.top_listener.unit}" : ""})" : "",
    ".",
  ])

  advice = join(" ", [
    "Raise the application's listen() backlog (nginx: listen ... backlog=N; HAProxy: backlog; Envoy: tcp_backlog_size)",
    "together with net.core.somaxconn (now ${sysctl.somaxconn}), which caps every backlog, then restart the listener;",
    "net.ipv4.tcp_max_syn_backlog bounds the SYN queue, not the accept queue. If the accept loop is saturated, add workers.",
  ])
}
