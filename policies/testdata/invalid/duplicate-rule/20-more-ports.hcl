# Config management dropped a second copy.
rule "port-exhaustion" {
  when    = worst.utilization >= 0.9
  message = "ports again"
}
