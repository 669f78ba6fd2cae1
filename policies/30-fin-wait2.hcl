# FIN_WAIT_2 orphan build-up (DESIGN §3.3): tcp_fin_timeout is how long an
# orphaned socket (closed by the application) waits in FIN_WAIT_2 for the
# peer's FIN. It is the right knob here, and only here: it does not shorten
# TIME_WAIT.

guardrail "net.ipv4.tcp_fin_timeout" {
  min      = 15
  max      = 60
  cooldown = "30m"
}

rule "fin-wait2-orphans" {
  severity = fin_wait2.max_orphans > 0 && fin_wait2.orphans >= 0.5 * fin_wait2.max_orphans ? "critical" : "warning"

  when = fin_wait2.count >= 1000 && fin_wait2.orphans >= 500 && sysctl.tcp_fin_timeout > 30

  message = join("", [
    "${fin_wait2.count} sockets in FIN_WAIT2 and ${fin_wait2.orphans} orphaned sockets${fin_wait2.max_orphans > 0 ? " (limit ${fin_wait2.max_orphans})" : ""}:",
    " peers do not finish closing, and each orphan waits net.ipv4.tcp_fin_timeout (${sysctl.tcp_fin_timeout} s) for their FIN.",
  ])

  advice = "Lower net.ipv4.tcp_fin_timeout so orphaned FIN_WAIT2 sockets are freed sooner; it does not change TIME_WAIT (60 s)."

  set "net.ipv4.tcp_fin_timeout" {
    value = bounded("net.ipv4.tcp_fin_timeout", max(30, floor(sysctl.tcp_fin_timeout / 2)))
  }
}
