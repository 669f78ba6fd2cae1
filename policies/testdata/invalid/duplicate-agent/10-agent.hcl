agent {
  mode = "dry-run"
}
