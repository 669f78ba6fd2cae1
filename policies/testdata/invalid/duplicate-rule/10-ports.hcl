rule "port-exhaustion" {
  when    = worst.utilization >= 0.8
  message = "ports"
}
