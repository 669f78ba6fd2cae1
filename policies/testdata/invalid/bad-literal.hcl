rule "reuse" {
  when    = true
  message = "reuse"

  set "net.ipv4.tcp_tw_reuse" {
    value = 3
  }
}

rule "range" {
  when    = true
  message = "range"

  set "net.ipv4.ip_local_port_range" {
    value = "60999 32768"
  }
}
