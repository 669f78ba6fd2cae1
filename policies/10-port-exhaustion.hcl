# Ephemeral port exhaustion, in its two forms (advisor/KERNEL.md, "Ports"):
#
# * connect() without bind() needs a unique 4-tuple, so its limit is the
#   usable range towards each (source address, remote address, remote
#   port). A destination's ports level off at its plateau: the connections
#   that stay open plus its close rate × the time a closed one keeps its
#   port (60 s of TIME_WAIT, or tcp_tw_reuse_delay where reuse is in
#   effect). A destination whose plateau fits never runs out, however fast
#   it climbs on the way there.
# * bind() to port 0 (without IP_BIND_ADDRESS_NO_PORT) needs a port no
#   socket on the same source address or the wildcard holds: it fails with
#   EADDRINUSE as the distinct ports in use there near the range, even
#   when every destination has room.

guardrail "net.ipv4.ip_local_port_range" {
  min      = 1024  # lowest low: never take privileged ports
  max      = 65535 # highest high
  max_step = 16384 # at most this many ports added per change
  cooldown = "5m"
  # No low_floor: widening raises the high end and the low end stays where
  # it is, since ports below the range may be services' (policies/README.md).
}

locals {
  # The smallest change first: where tcp_tw_reuse = 1 frees TIME_WAIT ports
  # (20-time-wait-reuse.hcl) or a lower tcp_fin_timeout frees orphaned
  # FIN_WAIT2 ones (30-fin-wait2.hcl), the range is sized for the plateau
  # those leave, and widened only if that plateau does not fit. A widening
  # then waits for the next evaluation, once they are in effect.
  # will_set: only where the rule that makes the smaller change is enabled
  # and its guardrail allows it.
  reuse_frees     = will_set("time-wait-reuse", "net.ipv4.tcp_tw_reuse", 1) && !worst.tw_reuse_in_effect && sysctl.tcp_tw_reuse != 1 && sysctl.tcp_timestamps != 0 && worst.plateau_with_reuse < worst.plateau && worst.time_wait >= 0.5 * max(worst.ports_unavailable, 1)
  orphans_lead    = will_set("fin-wait2-orphans", "net.ipv4.tcp_fin_timeout", sysctl.tcp_fin_timeout - 1) && worst.fin_wait2_orphaned >= 0.5 * max(worst.ports_unavailable, 1)
  # A full destination's demand, where the connection events measure it,
  # is in worst.plateau and, at tcp_tw_reuse_delay, worst.plateau_with_reuse.
  # It counts each attempt as holding a port a TIME_WAIT's 60 s, which an
  # orphan does not: where the orphans lead, they are sized from their own
  # measured rate. A full destination's close rates are only what its
  # range lets through, and none while no port frees: its orphans arrived
  # at least at the orphans it holds over their wait (each lives exactly
  # that long); where the events measure its attempts (opens_per_second,
  # immediate retries not counted), each attempt closes as the measured
  # ones did — orphaned in their share (all, when none was seen closing),
  # the rest to TIME_WAIT. If the lower tcp_fin_timeout still leaves it
  # full, the next evaluation widens.
  by_attempts     = worst.full && worst.demand_known
  closing         = worst.orphan_close_rate_per_second + worst.close_rate_per_second
  orphan_share    = local.closing > 0 ? worst.orphan_close_rate_per_second / local.closing : 1
  tw_rate         = local.by_attempts ? max(worst.close_rate_per_second, worst.opens_per_second * (1 - local.orphan_share)) : worst.close_rate_per_second
  held_rate       = worst.full ? worst.fin_wait2_orphaned / max(worst.orphan_hold_seconds, 1) : 0
  orphan_rate     = max(worst.orphan_close_rate_per_second, local.held_rate, local.by_attempts ? worst.opens_per_second * local.orphan_share : 0)
  measured        = worst.open + ceil(local.tw_rate * worst.hold_seconds) + worst.orphan_plateau
  after_reuse     = local.reuse_frees ? worst.plateau_with_reuse : (local.orphans_lead ? local.measured : worst.plateau)
  after_fin       = local.after_reuse - worst.orphan_plateau + ceil(local.orphan_rate * bounded("net.ipv4.tcp_fin_timeout", 0))
  needed_plateau  = local.orphans_lead ? local.after_fin : local.after_reuse
  smaller_changes = local.reuse_frees || local.orphans_lead

  # connect(): the busiest destination levels off within 10 % of its usable
  # ports even after the smaller changes, or its open connections grow
  # into them within ten minutes.
  connect_short = worst.known && (local.needed_plateau >= 0.9 * worst.ports_usable || (worst.runs_out && worst.exhaustion_basis == "growth of open connections" && worst.seconds_to_exhaustion < 600) || (worst.runs_out && !local.smaller_changes && worst.seconds_to_exhaustion < 600))
  # bind(): sockets on one source address hold 80 % of the range — unless
  # one destination's own connections hold them all: its plateau, above,
  # decides for those.
  bind_short = ports.bind_utilization >= 0.8 && !(worst.known && ports.distinct_in_use <= worst.ports_in_use)
  # Ports to ask for: twice the plateau (or the bind() use). A full
  # destination's sockets show only its capacity. The kernel's connection
  # events measure its demand — every connect() attempt, failed ones
  # included (a call retried at once after EADDRNOTAVAIL is the same
  # attempt), each keeping a port hold_seconds (tcp_tw_reuse_delay in
  # plateau_with_reuse) — and the plateau of a full destination is at
  # least that; without events the demand is unseen and at least the
  # capacity: as much as one step allows, unless a smaller change frees
  # its ports first.
  wanted = worst.full && !worst.demand_known && !local.smaller_changes ? 65536 : max(local.needed_plateau * 2, ports.distinct_in_use * 2)

}

rule "port-exhaustion" {
  topic = "ephemeral-ports"

  severity = (
    worst.full || worst.utilization >= 0.9 || (worst.runs_out && worst.seconds_to_exhaustion < 60) ||
    ports.bind_utilization >= 0.9
  ) ? "critical" : "warning"

  when = local.connect_short || local.bind_short

  message = join("", [
    local.connect_short ? join("", [
      "connect() runs short of ports towards ${worst.local} -> ${worst.remote}: ${worst.ports_unavailable} of ${worst.ports_usable} usable ports are unavailable (${percent(worst.utilization)}) in ${sysctl.ip_local_port_range.text}",
      worst.full && !worst.demand_known ? ", none is left: connect() fails with EADDRNOTAVAIL and the failed calls count nowhere, so the demand is at least the capacity" : "",
      worst.full && worst.demand_known ? ", none is left: connect() fails with EADDRNOTAVAIL; the connect() attempts towards it${worst.connect_retries > 0 ? " (immediate retries of a failed call not counted)" : ""}, each keeping a port ${round(worst.hold_seconds)} s, ask for ${thousands(worst.demand)}" : "",
      !worst.full ? "; ${round(worst.close_rate_per_second, 1)} connections/s enter TIME_WAIT towards it and each keeps its port ${round(worst.hold_seconds)} s${worst.fin_wait2_orphaned > 0 ? ", ${round(worst.orphan_close_rate_per_second, 1)}/s are orphaned in FIN_WAIT2 and each waits ${round(worst.orphan_hold_seconds)} s for the peer's FIN" : ""}, with ${worst.open} open, so it levels off at ${worst.plateau} (${percent(worst.plateau_utilization)})" : "",
      local.smaller_changes ? "; even ${local.reuse_frees ? "with net.ipv4.tcp_tw_reuse = 1" : ""}${local.reuse_frees && local.orphans_lead ? " and " : ""}${local.orphans_lead ? "with net.ipv4.tcp_fin_timeout lowered" : ""} it would level off at ${local.needed_plateau}" : "",
      worst.runs_out && !worst.full ? "; at the rate of ${worst.exhaustion_basis} it runs out in ${duration(worst.seconds_to_exhaustion)}" : "",
      local.bind_short ? "; bind() to port 0 runs short as well: sockets on ${ports.bind_source} hold ${ports.distinct_in_use} distinct ports (${percent(ports.bind_utilization)})" : "",
    ]) : join("", [
      "bind() to port 0 runs short of ports: sockets on ${ports.bind_source} or the wildcard hold ${ports.distinct_in_use} distinct ports (${percent(ports.bind_utilization)} of the range less reserved ports) in ${sysctl.ip_local_port_range.text}, and bind() needs one none of them holds",
      worst.known ? ", while the busiest destination, ${worst.local} -> ${worst.remote}, has ${worst.ports_unavailable} unavailable (${percent(worst.utilization)})" : "",
    ]),
    ".",
  ])

  advice = join(" ", [
    "Widen net.ipv4.ip_local_port_range by raising its high end (within the guardrail);",
    "ports services hold inside the new range are added to net.ipv4.ip_local_reserved_ports in the same change.",
    "When the range cannot grow further, reuse connections (keep-alive, pooling) or spread them over more source addresses;",
    "connect() fails with EADDRNOTAVAIL once the range runs out towards a destination${local.bind_short ? ", and bind() to port 0 with EADDRINUSE once no port is free on its address; applications that bind() before connect() should set IP_BIND_ADDRESS_NO_PORT so that connect() picks the port per destination" : ""}.",
  ])

  set "net.ipv4.ip_local_port_range" {
    # The ports asked for, plus those of the range no destination can use
    # (reserved, or held by listeners).
    value = widen_port_range(sysctl.ip_local_port_range, local.wanted + ports.size - ports.usable)
  }
}
