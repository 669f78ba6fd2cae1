# Orphaned FIN_WAIT2 (advisor/KERNEL.md, "FIN_WAIT2 and tcp_fin_timeout"):
# this host closed first towards a peer that never closes — a backend that
# leaks CLOSE_WAIT. Each orphan waits for the peer's FIN as a timewait
# socket in substate FIN_WAIT2 that lives tcp_fin_timeout (twice
# tcp_fin_timeout - 60 s, the first half as a full socket, when that is
# longer than 60 s), keeps its local port towards that peer, and takes one
# of the tcp_max_tw_buckets that TIME_WAIT uses too. tcp_tw_reuse never
# takes its port (tcp_twsk_unique() refuses the FIN_WAIT2 substate), so
# lowering tcp_fin_timeout is the sysctl that helps, and it does not
# shorten TIME_WAIT (60 s).
#
# The rule fires on harm, never on a count: orphans that fill a
# destination's ports, fill tcp_max_tw_buckets, or — with tcp_fin_timeout
# over 60 s, where they stay full sockets — near tcp_max_orphans. Orphans
# whose plateau fits change nothing.

guardrail "net.ipv4.tcp_fin_timeout" {
  min      = 15
  max      = 60
  cooldown = "30m"
}

locals {
  # Orphans hold most of the busiest destination's unavailable ports, and
  # it runs short.
  orphans_fill_destination = worst.known && worst.fin_wait2_orphaned >= 0.5 * max(worst.ports_unavailable, 1) && (
    worst.plateau_utilization >= 0.9 || (worst.runs_out && worst.seconds_to_exhaustion < 600)
  )
  # Timewait sockets of both substates near or past tcp_max_tw_buckets,
  # orphans a quarter of them or more.
  orphans_fill_buckets = time_wait.max_buckets > 0 && fin_wait2.orphaned_timewait >= 0.25 * max(time_wait.buckets_in_use, 1) && (
    time_wait.buckets_in_use >= 0.8 * time_wait.max_buckets || time_wait.overflow_delta > 0
  )
  # Over 60 s, orphans stay full sockets (with their buffers) for the
  # first part of their wait, and count against tcp_max_orphans.
  orphan_memory = sysctl.tcp_fin_timeout > 60 && fin_wait2.orphaned > 0 && orphans.max > 0 && orphans.count >= 0.5 * orphans.max

  # The longest wait under which the destination levels off within 80 %
  # of its ports, with what does not change (open connections, TIME_WAIT).
  others      = worst.open + ceil(worst.close_rate_per_second * worst.hold_seconds)
  fitting_fin = worst.orphan_close_rate_per_second > 0 ? floor((0.8 * worst.ports_usable - local.others) / worst.orphan_close_rate_per_second) : sysctl.tcp_fin_timeout
  # A full destination's demand is unseen (failed connect() calls count
  # nowhere): at least halve the wait there, and wherever the harm is not
  # the destination's.
  halved_fin = sysctl.tcp_fin_timeout > 60 ? 60 : floor(sysctl.tcp_fin_timeout / 2)
  wanted_fin = local.orphans_fill_destination && !worst.full ? local.fitting_fin : (local.orphans_fill_destination ? min(local.fitting_fin, local.halved_fin) : local.halved_fin)

  # Who does not close: the peer, and on this host the process holding
  # the CLOSE_WAIT end, when there is one.
  peer = close_wait.top_owner.command != "" ? "; on this host ${close_wait.top_owner.command} (pid ${close_wait.top_owner.pid}${close_wait.top_owner.unit != "" ? ", unit ${close_wait.top_owner.unit}" : ""}) holds ${close_wait.count} connection(s) in CLOSE_WAIT without closing them" : ""
}

rule "fin-wait2-orphans" {
  topic = "fin-wait2"

  severity = (worst.full && local.orphans_fill_destination) || time_wait.overflow_delta > 0 || (orphans.max > 0 && orphans.count >= 0.8 * orphans.max) ? "critical" : "warning"

  # Only orphans: a FIN_WAIT2 socket its process still holds (a half-close
  # with shutdown()) waits as long as the process keeps it.
  when = local.orphans_fill_destination || local.orphans_fill_buckets || local.orphan_memory

  message = join("", [
    local.orphans_fill_destination ? join("", [
      "${worst.fin_wait2_orphaned} connections from ${worst.local} to ${worst.remote} were closed here and wait in FIN_WAIT2 for a FIN the peer does not send",
      ", holding ${worst.fin_wait2_orphaned} of its ${worst.ports_usable} usable ports",
      worst.full ? " (none is left: connect() fails with EADDRNOTAVAIL)" : "; ${round(worst.orphan_close_rate_per_second, 1)}/s join them and each waits ${round(worst.orphan_hold_seconds)} s, so they level off at ${worst.orphan_plateau} (${percent(worst.plateau_utilization)} with the rest)",
      ". ${worst.remote} does not close its end${local.peer}",
    ]) : "${fin_wait2.orphaned} orphaned sockets wait in FIN_WAIT2 for their peers' FIN, each for ${round(fin_wait2.orphan_hold_seconds)} s (net.ipv4.tcp_fin_timeout ${sysctl.tcp_fin_timeout} s)${local.peer}",
    local.orphans_fill_buckets ? "; with ${time_wait.count} in TIME_WAIT, ${time_wait.buckets_in_use} timewait sockets use ${percent(time_wait.buckets_in_use / max(time_wait.max_buckets, 1))} of net.ipv4.tcp_max_tw_buckets (${time_wait.max_buckets})${time_wait.overflow_delta > 0 ? " and ${time_wait.overflow_delta} overflowed" : ""}" : "",
    local.orphan_memory ? "; over 60 s they stay full sockets at first: ${orphans.count} orphaned sockets host-wide of net.ipv4.tcp_max_orphans ${orphans.max}" : "",
    ".",
  ])

  advice = join(" ", [
    "Lower net.ipv4.tcp_fin_timeout: each orphan then gives up its port and its timewait bucket sooner.",
    "net.ipv4.tcp_tw_reuse does not help: connect() never takes the port of a FIN_WAIT2 orphan, and TIME_WAIT (60 s) does not depend on tcp_fin_timeout.",
    "The cause is the peer that does not close: fix it to close its end (a backend that leaks CLOSE_WAIT), or keep connections to it alive instead of closing each.",
  ])

  set "net.ipv4.tcp_fin_timeout" {
    value = bounded("net.ipv4.tcp_fin_timeout", min(local.wanted_fin, sysctl.tcp_fin_timeout))
  }
}
