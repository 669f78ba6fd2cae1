# Ports a service will listen on: a widened range must reserve them.
guardrail "net.ipv4.ip_local_port_range" {
  max_step = 16384
  reserve = [
    8443,
    65536,
    9100,
  ]
}
