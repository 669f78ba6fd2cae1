rule "time-wait" {
  when    = timewait.count > 1000
  message = "many TIME_WAIT"
}
