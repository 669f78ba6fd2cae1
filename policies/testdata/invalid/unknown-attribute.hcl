rule "port-exhaustion" {
  when     = worst.utilization >= 0.8
  message  = "too many ports in use"
  priority = 10
}
