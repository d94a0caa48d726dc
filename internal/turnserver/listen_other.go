//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package turnserver

import "syscall"

const reusePortSupported = false

func setReusePort(string, string, syscall.RawConn) error { return nil }
