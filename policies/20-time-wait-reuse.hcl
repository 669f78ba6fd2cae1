# High TIME_WAIT demand on an active closer (DESIGN §3.4): tcp_tw_reuse lets
# connect() take a port whose TIME_WAIT socket towards the same destination is
# older than tcp_tw_reuse_delay (or 1 s). It affects outgoing connections only
# and needs TCP timestamps, so it is never proposed for a pure server, whose
# TIME_WAIT sockets sit on its listening ports.
#
# Exhaustion is per destination (DESIGN §3.1): the TIME_WAIT that matters is
# the part of one destination's ports, compared with the ports usable towards
# it. 60,000 TIME_WAIT sockets spread over 20 backends leave each of them most
# of the range: the host-wide count proves nothing.

guardrail "net.ipv4.tcp_tw_reuse" {
  cooldown = "10m"
}

rule "time-wait-reuse" {
  severity = "warning"

  when = (
    sysctl.tcp_tw_reuse != 1 && sysctl.tcp_timestamps != 0 &&
    connections.has_rates && connections.active_opens_per_second > 0 &&
    worst.exists && worst.time_wait > 0 &&
    worst.time_wait >= 0.5 * worst.ports_usable
  )

  message = join("", [
    "${worst.time_wait} connections from ${worst.local} to ${worst.remote} in TIME_WAIT hold ${percent(worst.time_wait / max(worst.ports_usable, 1))} of the ${worst.ports_usable} ephemeral ports usable towards it",
    time_wait.outgoing_known && ports.destination_count > 1 ? " (${time_wait.outgoing} outgoing TIME_WAIT over ${ports.destination_count} destinations)" : "",
    "; this host opens ${round(connections.active_opens_per_second)} connections/s and closes them first",
    " (net.ipv4.tcp_tw_reuse is ${sysctl.tcp_tw_reuse}${sysctl.tcp_tw_reuse == 2 ? ", loopback only" : ", off"}).",
  ])

  advice = join(" ", [
    "Set net.ipv4.tcp_tw_reuse = 1 so connect() can reuse a TIME_WAIT port towards the same destination once its last timestamp is ${sysctl.tcp_tw_reuse_delay} ms old.",
    "TIME_WAIT itself lasts 60 s whatever net.ipv4.tcp_fin_timeout says.",
  ])

  set "net.ipv4.tcp_tw_reuse" {
    value = 1
  }
}
