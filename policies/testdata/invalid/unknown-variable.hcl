rule "port-exhaustion" {
  when    = worst.utilisation >= 0.8
  message = "${worst.remote} is out of ports"
}
