rule "port-exhaustion" {
  severity = "warning"
  when     = worst.utilization
  message  = "too many ports in use"
}
