// Command nobpf runs a command with the bpf(2) system call refused: a
// seccomp filter makes every bpf() call of the command, and of what it
// starts, fail with EPERM, whatever capabilities it holds.
//
// The kernel tests run tcp-advisor through it where the events program must
// be refused but CAP_SYS_ADMIN kept: entering another network namespace
// (setns(2)) needs CAP_SYS_ADMIN, and CAP_SYS_ADMIN stands in for CAP_BPF
// and CAP_PERFMON, so dropping capabilities cannot refuse the one and keep
// the other. nobpf execs the command, so it keeps nobpf's process id.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// auditArch is the seccomp_data.arch of this build's system calls.
var auditArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}

// filter is the classic BPF program: bpf() of this architecture fails with
// EPERM, every other call passes. Offsets are those of struct seccomp_data:
// nr at 0, arch at 4.
func filter(arch uint32) []unix.SockFilter {
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
	)
	return []unix.SockFilter{
		{Code: ldAbs, K: 4},
		{Code: jeq, K: arch, Jt: 0, Jf: 3}, // another architecture: allow
		{Code: ldAbs, K: 0},
		{Code: jeq, K: unix.SYS_BPF, Jt: 0, Jf: 1},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nobpf COMMAND [ARG...]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nobpf:", err)
		os.Exit(1)
	}
}

// run installs the filter on this thread and execs name with argv there:
// a filter set with prctl binds the calling thread, and exec hands the
// thread's filter to the new program.
func run(name string, argv []string) error {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no seccomp architecture known for %s", runtime.GOARCH)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	prog := filter(arch)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	// A filter needs no_new_privs or CAP_SYS_ADMIN; the unit sets
	// NoNewPrivileges= too.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return unix.Exec(path, argv, os.Environ())
}
