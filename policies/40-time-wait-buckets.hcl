# Timewait bucket overflow (advisor/KERNEL.md, "Counters"): TIME_WAIT sockets
# and orphans waiting in FIN_WAIT2 are both timewait sockets and share
# tcp_max_tw_buckets. Once they are all in use, inet_twsk_alloc() fails and
# tcp_time_wait() closes the socket at once, counting TcpExt
# TCPTimeWaitOverflow: a socket entering TIME_WAIT skips it (a late segment
# of the old connection can then reach a new one on the same 4-tuple), and
# an orphan entering FIN_WAIT2 is destroyed (the peer's FIN, when it comes,
# draws a reset). Each timewait socket costs a few hundred bytes.

guardrail "net.ipv4.tcp_max_tw_buckets" {
  max      = 2097152
  max_step = 524288
  cooldown = "10m"
}

locals {
  # The share of the buckets orphans hold: lowering tcp_fin_timeout frees
  # that share (30-fin-wait2.hcl), never the TIME_WAIT one.
  orphan_share = fin_wait2.orphaned_timewait / max(time_wait.buckets_in_use, 1)
}

rule "time-wait-bucket-overflow" {
  topic    = "time-wait"
  severity = "warning"

  when = time_wait.overflow_delta > 0

  message = join("", [
    "${time_wait.overflow_delta} sockets found net.ipv4.tcp_max_tw_buckets (${time_wait.max_buckets}) full over the last ${round(window.seconds)} s",
    " and closed at once: those entering TIME_WAIT skipped it, orphans entering FIN_WAIT2 were destroyed.",
    " ${time_wait.buckets_in_use} timewait sockets are in use: ${time_wait.count} in TIME_WAIT, ${fin_wait2.orphaned_timewait} orphaned in FIN_WAIT2;",
    " TCPTimeWaitOverflow is ${time_wait.overflow_total} since boot.",
  ])

  advice = join(" ", [
    "Raise net.ipv4.tcp_max_tw_buckets: without TIME_WAIT a late segment of an old connection can reach a new one on the same 4-tuple.",
    local.orphan_share >= 0.25 ? "Orphaned FIN_WAIT2 sockets hold ${percent(local.orphan_share)} of the buckets: a lower net.ipv4.tcp_fin_timeout frees them sooner." : "Lowering net.ipv4.tcp_fin_timeout frees only the orphans' share (${percent(local.orphan_share)}); TIME_WAIT lasts 60 s whatever it says.",
  ])

  set "net.ipv4.tcp_max_tw_buckets" {
    value = bounded("net.ipv4.tcp_max_tw_buckets", max(time_wait.max_buckets * 2, time_wait.buckets_in_use * 2))
  }
}
