# A rule with an unclosed parenthesis.
rule "broken" {
  when    = (worst.utilization >= 0.8
  message = "never parsed"
}
