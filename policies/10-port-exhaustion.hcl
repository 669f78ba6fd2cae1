# Ephemeral port exhaustion, per destination (DESIGN §3.1): connect() without
# bind() needs a unique 4-tuple, so the limit is the usable range towards each
# (source address, remote address, remote port), not the host's total.

guardrail "net.ipv4.ip_local_port_range" {
  min      = 1024  # lowest low: never take privileged ports
  max      = 65535 # highest high
  max_step = 16384 # at most this many ports added per change
  cooldown = "5m"
}

rule "port-exhaustion" {
  severity = worst.utilization >= 0.9 ? "critical" : "warning"

  # One destination uses 80% of the usable ports, or half of them and runs out
  # within ten minutes at the current rate.
  when = worst.exists && (
    worst.utilization >= 0.8 ||
    (worst.utilization >= 0.5 && connections.seconds_to_exhaustion >= 0 && connections.seconds_to_exhaustion < 600)
  )

  message = join("", [
    "${worst.local} -> ${worst.remote} holds ${worst.ports_in_use} of ${worst.ports_usable} usable ephemeral ports (${percent(worst.utilization)}) in ${sysctl.ip_local_port_range.text}",
    connections.seconds_to_exhaustion >= 0 ? "; at the rate of ${connections.exhaustion_basis} it runs out in ${duration(connections.seconds_to_exhaustion)}" : "",
    connections.has_rates ? "; ${round(connections.active_opens_per_second)} new outgoing connections/s keep ${round(connections.time_wait_demand)} ports in TIME_WAIT for 60 s" : "",
    ".",
  ])

  advice = join(" ", [
    "Widen net.ipv4.ip_local_port_range to at least twice what this destination uses (within the guardrail);",
    "listening ports inside the new range are added to net.ipv4.ip_local_reserved_ports in the same change.",
    "When the range cannot grow further, spread connections over more source addresses or reuse them (keep-alive, pooling):",
    "connect() fails with EADDRNOTAVAIL once the range runs out.",
  ])

  set "net.ipv4.ip_local_port_range" {
    # Twice the ports in use, twice the current range, or the TIME_WAIT demand
    # of the whole host, whichever is largest; plus the reserved ports inside.
    value = widen_port_range(
      sysctl.ip_local_port_range,
      max(worst.ports_in_use * 2, ports.size * 2, connections.time_wait_demand) + ports.reserved_in_range
    )
  }
}
