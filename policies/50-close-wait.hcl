# CLOSE_WAIT leak (advisor/KERNEL.md, "CLOSE_WAIT"): the peer closed and the local application
# never called close(). No kernel timeout ends CLOSE_WAIT and no sysctl fixes
# it: the advice names the process, its unit, the remote pattern and the
# sockets stuck across samples.

rule "close-wait-leak" {
  topic    = "close-wait"
  severity = close_wait.stuck >= 100 || close_wait.growth >= 100 ? "critical" : "warning"

  # The figures come from the socket dumps that included CLOSE_WAIT
  # (close_wait.samples), fewer than the snapshots of the window: the agent
  # dumps CLOSE_WAIT once a minute while it ticks every 10 s. With one dump
  # there is no growth to see: the count alone decides. With several,
  # sockets that come and go are churn, not a leak.
  when = close_wait.count >= 100 && (close_wait.samples < 2 || close_wait.growth > 0 || close_wait.stuck > 0)

  message = join("", [
    "${close_wait.count} sockets in CLOSE_WAIT",
    close_wait.samples > 1 ? " (${close_wait.growth >= 0 ? "${close_wait.growth} more" : "${-close_wait.growth} fewer"} than in the first of ${close_wait.samples} CLOSE_WAIT dumps; ${close_wait.stuck} stuck in ${close_wait.samples == 2 ? "both" : "all ${close_wait.samples}"})" : "",
    close_wait.top_owner.command != "" ? "; ${close_wait.top_owner.count} held by ${close_wait.top_owner.command} (pid ${close_wait.top_owner.pid}${close_wait.top_owner.unit != "" ? ", unit ${close_wait.top_owner.unit}" : ""}) on its local port ${close_wait.top_owner.local_port}" : "; owner unknown (process owners need root)",
    close_wait.top_owner.fds_known && close_wait.top_owner.fd_limit > 0 ? join("", [
      "; it holds ${close_wait.top_owner.fds} file descriptors of its limit of ${close_wait.top_owner.fd_limit} (RLIMIT_NOFILE, ${percent(close_wait.top_owner.fds / close_wait.top_owner.fd_limit)})",
      close_wait.top_owner.seconds_to_fd_limit >= 0 ? ", ${round(close_wait.top_owner.fd_growth_per_second, 2)} more a second: accept() and open() fail with \"Too many open files\" in ${duration(close_wait.top_owner.seconds_to_fd_limit)}" : "",
    ]) : "",
    close_wait.pattern == "one-remote-dominates" ? "; one remote dominates: ${close_wait.top_remote.remote} with ${close_wait.top_remote.count}" : "; spread over ${close_wait.remotes} remotes (${close_wait.pattern})",
    close_wait.unread_eof > 0 ? "; ${close_wait.unread_eof} never read the peer's FIN (Recv-Q 1 or more: the application stopped reading)" : "",
    close_wait.eof_read > 0 ? "; ${close_wait.eof_read} read end-of-file and were never closed (Recv-Q 0)" : "",
    length(close_wait.stuck_sockets) > 0 ? "; stuck: ${join(", ", [for s in slice(close_wait.stuck_sockets, 0, min(3, length(close_wait.stuck_sockets))) : "${s.local} -> ${s.remote}"])}${close_wait.stuck > 3 ? " and ${close_wait.stuck - 3} more" : ""}" : "",
    ".",
  ])

  advice = join(" ", [
    "No sysctl ends CLOSE_WAIT: the peer has closed and the application has not called close(), and the kernel has no timeout for that state.",
    "Fix the code path that abandons connections (error paths, pools that drop instead of closing);",
    close_wait.top_owner.unit != "" ? "restarting ${close_wait.top_owner.unit} releases them meanwhile." : "restarting the owning process releases them meanwhile.",
  ])
}
