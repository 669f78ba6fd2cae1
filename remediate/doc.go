// Package remediate turns recommendations into a plan and applies it: the
// guardrails every change passes (built-in kernel rules and the policy's),
// the state store that remembers original values and every change, the
// sysctl writer, persistence to /etc/sysctl.d, and rollback. It never reads
// the kernel's socket tables: everything it knows about the host arrives in
// an advisor.Snapshot.
package remediate
