// Package state keeps a single node's sessions across a graceful restart:
// the snapshot a stopping node writes (format.go) and the state file it
// goes in, locked by the process that runs on it, written atomically and
// read once (file.go).
package state
