// Command measure runs a command with its output discarded and prints its
// wall time and peak RSS as JSON: {"wall_ns":N,"maxrss_kib":M}.
//
// It exists because peak RSS (ru_maxrss) survives exec and, when the child is
// forked from a large process such as a test binary, starts at that process's
// size: measure is small, so what it reports is the command's own.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr // Stdout stays nil: /dev/null
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]int64{"wall_ns": wall.Nanoseconds(), "maxrss_kib": ru.Maxrss})
}
