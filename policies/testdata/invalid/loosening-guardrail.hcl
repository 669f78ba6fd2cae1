guardrail "net.ipv4.ip_local_port_range" {
  min = 80
  max = 70000
}
