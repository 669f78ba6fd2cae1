guardrail "net.ipv4.tcp_fin_timeout" {
  min = 15
  max = 60
}

rule "fin" {
  when    = fin_wait2.count > 1000
  message = "FIN_WAIT2"

  set "net.ipv4.tcp_fin_timeout" {
    value = 5
  }
}
