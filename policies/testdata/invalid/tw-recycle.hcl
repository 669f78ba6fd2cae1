rule "recycle" {
  when    = time_wait.count > 10000
  message = "too much TIME_WAIT"

  set "net.ipv4.tcp_tw_recycle" {
    value = 1
  }
}
