//go:build !linux

package password

import "os/exec"

// startNiced starts c; the priority is only set on Linux. The workers
// still take hashing out of the server's own scheduler.
func startNiced(c *exec.Cmd, nice int) error { return c.Start() }
