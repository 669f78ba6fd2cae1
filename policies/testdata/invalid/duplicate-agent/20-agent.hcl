agent {
  mode = "enforce"
}
