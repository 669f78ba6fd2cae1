rule "ok" {
  when    = false
  message = "fine"
}

policy "port-exhaustion" {
  when = true
}
