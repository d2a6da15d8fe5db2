package background

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lower locks the calling goroutine to its thread and sets the thread's nice value: on Linux
// a nice value belongs to a thread, which PRIO_PROCESS names by its id.
func lower(nice int) error {
	runtime.LockOSThread()
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice)
}
