# Connection churn (advisor/KERNEL.md, "Ports"): a program that opens one
# connection per request, and closes it first, fills a destination's ports
# with TIME_WAIT (or orphaned FIN_WAIT2) sockets. The sysctl changes of the
# other rules — tcp_tw_reuse = 1, a lower tcp_fin_timeout, a wider range —
# make room for the churn; this rule names its cause and how to stop it,
# whichever of them the plan makes: who opens the connections, whose
# connect() calls fail, and that program's own fix. Advice only.

locals {
  # The busiest destination runs short at the present settings: the same
  # thresholds as time-wait-reuse, before any change of the plan.
  short = worst.known && (worst.plateau_utilization >= 0.9 || (worst.runs_out && worst.seconds_to_exhaustion < 600))
  # Who opens the connections: from the kernel's connection events where
  # available (the caller of connect(), seen even when every call fails),
  # else the owners of the destination's open sockets (SYN_SENT,
  # ESTABLISHED, ...) the window saw; and how that program keeps them
  # instead.
  caller      = worst.opener.command != "" ? worst.opener : worst.failing
  by_events   = local.caller.command != ""
  opener      = local.by_events ? local.caller.command : worst.top_owner.command
  opener_pid  = local.by_events ? local.caller.pid : worst.top_owner.pid
  opener_unit = local.by_events ? local.caller.unit : worst.top_owner.unit
  # "nginx (nginx.service) opens 300/s towards 127.0.0.1:8081; 7,769
  # connect() calls failed for lack of a port in the last 10 s (nginx,
  # 776 attempts/s)"; with the immediate retries of a Go client's dialer,
  # "(M of them immediate retries)" after the calls. Rates are attempts.
  who_unit  = "${worst.opener.command}${worst.opener.unit != "" ? " (${worst.opener.unit})" : ""}"
  who_opens = worst.opener.command != "" ? "; ${local.who_unit} opens ${thousands(worst.opener.opens_per_second)}/s towards ${worst.remote}" : ""
  retried   = worst.connect_retries > 0 ? " (${thousands(worst.connect_retries)} of them immediate retries)" : ""
  who_fails = worst.connect_failures > 0 ? "; ${thousands(worst.connect_failures)} connect() calls failed for lack of a port in the last ${round(events.seconds)} s${local.retried} (${worst.failing.command}${worst.failing.unit != "" ? " in ${worst.failing.unit}" : ""}, ${thousands(worst.failing.failures_per_second)} attempts/s)" : ""
  reuse_hints = {
    nginx   = "keep upstream connections alive: add keepalive 32; to the upstream block that names ${worst.remote}, and proxy_http_version 1.1; with proxy_set_header Connection \"\"; in the locations that proxy to it"
    haproxy = "let idle server connections be reused: http-reuse safe (or aggressive) in the backend, and no option httpclose or option http-server-close"
    envoy   = "keep the cluster's upstream connections: leave max_requests_per_connection unset (or high) and use HTTP/1.1 keep-alive or HTTP/2 towards the cluster"
  }
  generic_hint = "reuse connections from a pool in the client (Go: one http.Transport with MaxIdleConnsPerHost; Java: a pooling HTTP client or a JDBC pool; Python: a requests.Session)"
  churn_fix = local.opener != "" ? "the connections are opened by ${local.opener} (pid ${local.opener_pid}${local.opener_unit != "" ? ", unit ${local.opener_unit}" : ""}); to stop opening one per request, ${lookup(local.reuse_hints, local.opener, local.generic_hint)}." : "to stop opening one connection per request, ${local.generic_hint}."
}

rule "connection-churn" {
  topic = "ephemeral-ports"
  # Critical as port-exhaustion is: full, at 90 % now, or out within a minute.
  severity = worst.full || worst.utilization >= 0.9 || (worst.runs_out && worst.seconds_to_exhaustion < 60) ? "critical" : "warning"

  when = local.short

  message = join("", [
    "${worst.local} -> ${worst.remote} runs short of ports at the present settings: ${worst.ports_unavailable} of ${worst.ports_usable} usable ports are unavailable (${percent(worst.utilization)})",
    worst.demand_known && worst.demand > 0 ? "; the connect() attempts towards it, each keeping a port ${round(worst.hold_seconds)} s, ask for ${thousands(worst.demand)}" : "",
    local.who_opens,
    local.who_fails,
    ".",
  ])

  advice = join(" ", [
    "Fix the churn at its source: ${local.churn_fix}",
    "The sysctl changes of this plan make room for the churn; they do not end it.",
  ])
}
