rule "port-exhaustion" {
  severity = "urgent"
  when     = worst.utilization >= 0.8
  message  = "too many ports in use"
}
