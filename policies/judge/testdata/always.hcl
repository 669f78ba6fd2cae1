# A rule that fires on the counters alone: it never asks for a dump.
rule "always" {
  topic   = "test"
  when    = sysctl.tcp_fin_timeout > 0
  message = "always"
}
