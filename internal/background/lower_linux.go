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

// ownNice returns the calling thread's nice value, 0 when it cannot be read.
func ownNice() int {
	v, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		return 0
	}
	return 20 - v // getpriority(2) answers 20 - nice
}
