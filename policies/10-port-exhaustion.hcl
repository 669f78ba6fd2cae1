# Ephemeral port exhaustion (DESIGN §3.1), in its two forms:
#
# * connect() without bind() needs a unique 4-tuple, so its limit is the usable
#   range towards each (source address, remote address, remote port), not the
#   host's total: the worst destination decides.
# * bind() to port 0 (without IP_BIND_ADDRESS_NO_PORT) needs a port that no
#   socket holds at all, whatever its destination: it fails with EADDRINUSE as
#   the distinct ports in use near the usable range, even when every
#   destination has room.

guardrail "net.ipv4.ip_local_port_range" {
  min      = 1024  # lowest low: never take privileged ports
  max      = 65535 # highest high
  max_step = 16384 # at most this many ports added per change
  cooldown = "5m"
}

rule "port-exhaustion" {
  severity = worst.utilization >= 0.9 || ports.bind_utilization >= 0.9 ? "critical" : "warning"

  # connect(): one destination uses 80% of the usable ports, or half of them
  # and runs out within ten minutes at the current rate. bind(): outgoing
  # sockets hold 80% of the usable ports between them.
  when = (
    worst.exists && (
      worst.utilization >= 0.8 ||
      (worst.utilization >= 0.5 && connections.seconds_to_exhaustion >= 0 && connections.seconds_to_exhaustion < 600)
    )
  ) || ports.bind_utilization >= 0.8

  message = join("", [
    # connect(): the same condition as in when.
    worst.exists && (worst.utilization >= 0.8 || (worst.utilization >= 0.5 && connections.seconds_to_exhaustion >= 0 && connections.seconds_to_exhaustion < 600)) ? join("", [
      "connect() runs short of ports towards one destination: ${worst.local} -> ${worst.remote} holds ${worst.ports_in_use} of ${worst.ports_usable} usable ephemeral ports (${percent(worst.utilization)}) in ${sysctl.ip_local_port_range.text}",
      connections.seconds_to_exhaustion >= 0 ? "; at the rate of ${connections.exhaustion_basis} it runs out in ${duration(connections.seconds_to_exhaustion)}" : "",
      ports.bind_utilization >= 0.8 ? "; bind() to port 0 runs short as well: outgoing sockets hold ${ports.distinct_in_use} distinct ports (${percent(ports.bind_utilization)})" : "",
    ]) : join("", [
      "bind() to port 0 runs short of ports: outgoing sockets hold ${ports.distinct_in_use} distinct ephemeral ports of the ${ports.usable} usable (${percent(ports.bind_utilization)}) in ${sysctl.ip_local_port_range.text}, and bind() needs one that no socket holds",
      worst.exists ? ", while the busiest destination, ${worst.local} -> ${worst.remote}, holds ${worst.ports_in_use} (${percent(worst.utilization)})" : "",
    ]),
    connections.has_rates ? "; ${round(connections.active_opens_per_second)} new outgoing connections/s keep ${round(connections.time_wait_demand)} ports in TIME_WAIT for 60 s" : "",
    ".",
  ])

  advice = join(" ", [
    "Widen net.ipv4.ip_local_port_range to at least twice the ports in use (within the guardrail);",
    "listening ports inside the new range are added to net.ipv4.ip_local_reserved_ports in the same change.",
    "When the range cannot grow further, spread connections over more source addresses or reuse them (keep-alive, pooling):",
    "connect() fails with EADDRNOTAVAIL once the range runs out towards a destination${ports.bind_utilization >= 0.8 ? ", and bind() to port 0 with EADDRINUSE once no port is free; applications that bind() before connect() should set IP_BIND_ADDRESS_NO_PORT, so that connect() picks the port per destination" : ""}.",
  ])

  set "net.ipv4.ip_local_port_range" {
    # Twice the ports the worst destination uses, twice the distinct ports in
    # use, twice the current range, or the TIME_WAIT demand of the whole host,
    # whichever is largest; plus the reserved ports inside.
    value = widen_port_range(
      sysctl.ip_local_port_range,
      max(worst.ports_in_use * 2, ports.distinct_in_use * 2, ports.size * 2, connections.time_wait_demand) + ports.reserved_in_range
    )
  }
}
