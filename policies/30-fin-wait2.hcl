# FIN_WAIT_2 build-up (advisor/KERNEL.md, "FIN_WAIT2 and tcp_fin_timeout"):
# tcp_fin_timeout is how long an orphaned socket (closed by the application)
# waits in FIN_WAIT_2 for the peer's FIN. It is the right knob here, and only
# here: it does not shorten TIME_WAIT.
#
# With tcp_fin_timeout <= 60 s (TCP_TIMEWAIT_LEN) the kernel turns such an
# orphan into a timewait minisock in substate FIN_WAIT2 (tcp_time_wait()):
# sockstat counts it in tw, not in orphan, and it takes one of the
# tcp_max_tw_buckets that TIME_WAIT sockets use too. So the orphan count stays
# low however many sockets wait, and the rule does not ask for it. A longer
# tcp_fin_timeout keeps the orphan a full socket for its first
# tcp_fin_timeout - 60 s.

guardrail "net.ipv4.tcp_fin_timeout" {
  min      = 15
  max      = 60
  cooldown = "30m"
}

rule "fin-wait2-orphans" {
  topic = "fin-wait2"

  severity = (
    (time_wait.max_buckets > 0 && fin_wait2.orphaned + time_wait.count >= 0.8 * time_wait.max_buckets) ||
    (orphans.max > 0 && orphans.count >= 0.5 * orphans.max)
  ) ? "critical" : "warning"

  # Only orphans: a FIN_WAIT2 socket its process still holds (a half-close
  # with shutdown()) waits as long as the process keeps it.
  when = fin_wait2.orphaned >= 1000 && sysctl.tcp_fin_timeout > 30

  message = join("", [
    "${fin_wait2.orphaned} orphaned sockets in FIN_WAIT2 (of ${fin_wait2.count}): peers do not finish closing, and each orphaned one waits net.ipv4.tcp_fin_timeout (${sysctl.tcp_fin_timeout} s) for their FIN",
    sysctl.tcp_fin_timeout > 60 ? " (the first ${sysctl.tcp_fin_timeout - 60} s as a full socket)" : "",
    ". Orphaned, they wait as timewait sockets: ${time_wait.count > 0 ? "with the ${time_wait.count} in TIME_WAIT, " : ""}${fin_wait2.orphaned + time_wait.count} of net.ipv4.tcp_max_tw_buckets (${time_wait.max_buckets}) are in use (${percent((fin_wait2.orphaned + time_wait.count) / max(time_wait.max_buckets, 1))})",
    orphans.max > 0 ? "; ${orphans.count} orphaned sockets host-wide of net.ipv4.tcp_max_orphans ${orphans.max}" : "",
    ".",
  ])

  advice = join(" ", [
    "Lower net.ipv4.tcp_fin_timeout so orphaned FIN_WAIT2 sockets are freed sooner and leave room in net.ipv4.tcp_max_tw_buckets;",
    "past that limit closing sockets skip TIME_WAIT (TCPTimeWaitOverflow). It does not change TIME_WAIT (60 s).",
  ])

  set "net.ipv4.tcp_fin_timeout" {
    value = bounded("net.ipv4.tcp_fin_timeout", max(30, floor(sysctl.tcp_fin_timeout / 2)))
  }
}
