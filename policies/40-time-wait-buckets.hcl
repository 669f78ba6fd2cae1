# TIME_WAIT bucket overflow (advisor/KERNEL.md, "Counters"): when tcp_max_tw_buckets TIME_WAIT
# sockets exist, a closing socket skips TIME_WAIT and TcpExt
# TCPTimeWaitOverflow rises. Each TIME_WAIT socket costs a few hundred bytes.

guardrail "net.ipv4.tcp_max_tw_buckets" {
  max      = 2097152
  max_step = 524288
  cooldown = "10m"
}

rule "time-wait-bucket-overflow" {
  topic    = "time-wait"
  severity = "warning"

  when = time_wait.overflow_delta > 0

  message = join("", [
    "${time_wait.overflow_delta} closing sockets skipped TIME_WAIT over the last ${round(window.seconds)} s:",
    " ${time_wait.count} TIME_WAIT sockets reached net.ipv4.tcp_max_tw_buckets (${time_wait.max_buckets});",
    " TCPTimeWaitOverflow is ${time_wait.overflow_total} since boot.",
  ])

  advice = join(" ", [
    "Raise net.ipv4.tcp_max_tw_buckets: without TIME_WAIT a late segment of an old connection can reach a new one on the same 4-tuple.",
    "Lowering tcp_fin_timeout does not help: TIME_WAIT lasts 60 s.",
  ])

  set "net.ipv4.tcp_max_tw_buckets" {
    value = bounded("net.ipv4.tcp_max_tw_buckets", max(time_wait.max_buckets * 2, time_wait.count * 2))
  }
}
