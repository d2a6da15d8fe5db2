//go:build !linux

package background

import (
	"errors"
	"runtime"
)

var errUnsupported = errors.New("per-thread priorities are supported on Linux only")

func lower(int) error {
	runtime.LockOSThread()
	return errUnsupported
}

func ownNice() int { return 0 }
