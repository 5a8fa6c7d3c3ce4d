package password

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startNiced starts c with the OS priority nice. Linux keeps a priority
// per thread and a new thread or process inherits its creator's, so c is
// started from a thread of its own whose priority is lowered first: the
// worker's first thread, and every thread its runtime makes later, have
// it. That thread is never handed back to the Go scheduler: it ends with
// the goroutine. (So no parent-death signal: Linux ties it to the thread
// that started the child, which ends at once. The worker exits at the end
// of its input instead, which the kernel closes when the server dies.)
func startNiced(c *exec.Cmd, nice int) error {
	if nice == 0 {
		return c.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, on purpose
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice); err != nil {
			errc <- err
			return
		}
		errc <- c.Start()
	}()
	return <-errc
}
