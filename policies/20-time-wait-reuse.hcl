# High TIME_WAIT demand on an active closer (DESIGN §3.4): tcp_tw_reuse lets
# connect() take a port whose TIME_WAIT socket towards the same destination is
# older than tcp_tw_reuse_delay (or 1 s). It affects outgoing connections only
# and needs TCP timestamps, so it is never proposed for a pure server, whose
# TIME_WAIT sockets sit on its listening ports.

guardrail "net.ipv4.tcp_tw_reuse" {
  cooldown = "10m"
}

rule "time-wait-reuse" {
  severity = "warning"

  when = (
    sysctl.tcp_tw_reuse != 1 && sysctl.tcp_timestamps != 0 &&
    connections.has_rates && connections.active_opens_per_second > 0 &&
    time_wait.outgoing_known && time_wait.outgoing > 0 &&
    time_wait.outgoing >= 0.5 * ports.usable
  )

  message = join("", [
    "${time_wait.outgoing} outgoing connections in TIME_WAIT hold ${percent(time_wait.outgoing / max(ports.usable, 1))} of the ${ports.usable} usable ephemeral ports;",
    " this host opens ${round(connections.active_opens_per_second)} connections/s and closes them first",
    " (net.ipv4.tcp_tw_reuse is ${sysctl.tcp_tw_reuse}${sysctl.tcp_tw_reuse == 2 ? ", loopback only" : ", off"}).",
  ])

  advice = join(" ", [
    "Set net.ipv4.tcp_tw_reuse = 1 so connect() can reuse a TIME_WAIT port once its last timestamp is ${sysctl.tcp_tw_reuse_delay} ms old.",
    "TIME_WAIT itself lasts 60 s whatever net.ipv4.tcp_fin_timeout says.",
  ])

  set "net.ipv4.tcp_tw_reuse" {
    value = 1
  }
}
