# Agent settings. tcp-advisor starts in dry-run: it reports what it would
# change and writes nothing until an operator sets mode = "enforce".
agent {
  mode         = "dry-run"
  interval     = "10s"
  persist      = false
  persist_path = "/etc/sysctl.d/90-tcp-advisor.conf"
}
