rule "panic-on-oops" {
  when    = true
  message = "not a TCP setting"

  set "kernel.panic" {
    value = 10
  }
}
