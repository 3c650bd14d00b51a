//go:build !unix

package main

// setReusePort does nothing where there is no SO_REUSEPORT: a next
// process binds the port once this one let it go.
func setReusePort(uintptr) error { return nil }
