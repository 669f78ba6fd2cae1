# TIME_WAIT holding a destination's ports (advisor/KERNEL.md, "TIME_WAIT and
# tcp_tw_reuse"): tcp_tw_reuse lets connect() take the port of a TIME_WAIT
# socket towards the same destination once it is older than
# tcp_tw_reuse_delay (1 s before Linux 6.14). It affects outgoing connections
# only and needs TCP timestamps. At 2, the default, it is in effect towards
# loopback only: proposing 1 for a loopback destination would change
# nothing, so the rule asks only where reuse is not in effect already.

guardrail "net.ipv4.tcp_tw_reuse" {
  cooldown = "10m"
}

locals {
  # Closed connections are most of what holds the busiest destination's
  # ports, reuse is not in effect towards it, and it runs short.
  # (Orphaned FIN_WAIT2 sockets are closed too, but reuse never takes
  # their ports: 30-fin-wait2.hcl.)
  closed_hold_ports = worst.known && !worst.tw_reuse_in_effect && worst.time_wait >= 0.5 * max(worst.ports_unavailable, 1)
  short             = worst.plateau_utilization >= 0.9 || (worst.runs_out && worst.seconds_to_exhaustion < 600)
}

rule "time-wait-reuse" {
  topic    = "time-wait"
  # Critical as port-exhaustion is: full, at 90 % now, or out within a minute.
  severity = worst.full || worst.utilization >= 0.9 || (worst.runs_out && worst.seconds_to_exhaustion < 60) ? "critical" : "warning"

  when = sysctl.tcp_tw_reuse != 1 && sysctl.tcp_timestamps != 0 && local.closed_hold_ports && local.short

  message = join("", [
    "${worst.time_wait} connections from ${worst.local} to ${worst.remote} wait in TIME_WAIT and hold ${percent(worst.time_wait / max(worst.ports_usable, 1))} of its ${worst.ports_usable} usable ports",
    worst.full ? " (none is left)" : "; closing ${round(worst.close_rate_per_second, 1)}/s it levels off at ${percent(worst.plateau_utilization)}",
    "; net.ipv4.tcp_tw_reuse is ${sysctl.tcp_tw_reuse} (${sysctl.tcp_tw_reuse == 2 ? "loopback only, and this destination is not loopback" : "off"}).",
  ])

  advice = join(" ", [
    "Set net.ipv4.tcp_tw_reuse = 1 so connect() can take a TIME_WAIT port towards the same destination once it is ${sysctl.tcp_tw_reuse_delay} ms old:",
    "each closed connection then holds its port about ${round(sysctl.tcp_tw_reuse_delay / 1000, 1)} s instead of 60 s.",
    "TIME_WAIT itself lasts 60 s whatever net.ipv4.tcp_fin_timeout says.",
    worst.plateau_with_reuse < 0.9 * worst.ports_usable ? "This is the smallest change that suffices: the destination would level off at ${worst.plateau_with_reuse} ports (${percent(worst.plateau_with_reuse / max(worst.ports_usable, 1))})${worst.full ? (worst.demand_known ? " at the connect() attempt rate the kernel's connection events measure, failed attempts included" : " at the rate measured while it was full") : ""}; the port range is widened only if it still runs short once reuse is in effect." : "Even with reuse the destination would level off at ${worst.plateau_with_reuse} ports: the port range is widened in the same plan, sized for that.",
  ])

  set "net.ipv4.tcp_tw_reuse" {
    value = 1
  }
}
