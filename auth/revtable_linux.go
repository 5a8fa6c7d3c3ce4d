package auth

import "syscall"

// allocSlots returns size zeroed bytes outside the Go heap (an anonymous
// private mapping; pages are only resident once written), or from the
// heap if the mapping fails.
func allocSlots(size int) []byte {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, size)
	}
	return b
}

// freeSlots unmaps what allocSlots mapped (a heap slice is left to the GC:
// Munmap refuses what it did not map).
func freeSlots(b []byte) { syscall.Munmap(b) }
