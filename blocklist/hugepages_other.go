//go:build !linux

package blocklist

// collapseHugePages does nothing outside Linux: see hugepages_linux.go.
func collapseHugePages([]byte) error { return nil }
