package main

import (
	"os"
	"strconv"
	"strings"
)

// isDescendant reports whether pid descends from ancestor, following
// /proc/<pid>/stat's parent pid field.
func isDescendant(pid, ancestor int) bool {
	for i := 0; i < 16 && pid > 1; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		// The command may hold spaces: fields start after the last ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 2 {
			return false
		}
		if pid, err = strconv.Atoi(fields[1]); err != nil {
			return false
		}
		if pid == ancestor {
			return true
		}
	}
	return false
}
