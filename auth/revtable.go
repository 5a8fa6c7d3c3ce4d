package auth

import "encoding/binary"

// revTable is the mirror's storage: an open-addressing hash table (linear
// probing) of 64-bit keys, each with a uint32 expiry, packed in 12-byte
// slots of one byte slice. On Linux the slice is an anonymous memory
// mapping outside the Go heap (revtable_linux.go): a million revocations
// then cost their 12-byte slots (about 25 bytes each at the table's load)
// and nothing more, where a Go map of the same would also raise the
// garbage collector's heap goal by its own size, roughly doubling its
// resident cost under load. Not safe for concurrent use: Mirror locks.
type revTable struct {
	mem  []byte // len(mem) == 12 × slots; a key of 0 marks an empty slot
	mask uint64 // slots - 1 (slots is a power of two)
	n    int
}

const slotSize = 12

// newRevTable returns a table with room for n keys at a load of at most
// a half.
func newRevTable(n int) *revTable {
	slots := 1024
	for slots < 2*n {
		slots *= 2
	}
	return &revTable{mem: allocSlots(slots * slotSize), mask: uint64(slots - 1)}
}

// free gives the table's memory back; the table must not be used after.
func (t *revTable) free() { freeSlots(t.mem); t.mem = nil }

func nonZero(k uint64) uint64 {
	if k == 0 {
		return 1 // 0 marks empty slots; 1 stands for it (a shared hash only ever refuses)
	}
	return k
}

// has reports whether k is in the table.
func (t *revTable) has(k uint64) bool {
	k = nonZero(k)
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		switch binary.LittleEndian.Uint64(t.mem[i*slotSize:]) {
		case k:
			return true
		case 0:
			return false
		}
	}
}

// put stores k with exp, keeping the later expiry when k is there; the
// caller grows the table first (needsGrow).
func (t *revTable) put(k uint64, exp uint32) {
	k = nonZero(k)
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		s := t.mem[i*slotSize : (i+1)*slotSize]
		switch binary.LittleEndian.Uint64(s) {
		case k:
			if exp > binary.LittleEndian.Uint32(s[8:]) {
				binary.LittleEndian.PutUint32(s[8:], exp)
			}
			return
		case 0:
			binary.LittleEndian.PutUint64(s, k)
			binary.LittleEndian.PutUint32(s[8:], exp)
			t.n++
			return
		}
	}
}

// full reports whether one more key would take the table past 3/4 load.
func (t *revTable) full() bool { return uint64(t.n+1)*4 > (t.mask+1)*3 }

// each calls fn with every key and expiry.
func (t *revTable) each(fn func(k uint64, exp uint32)) {
	for i := 0; i < len(t.mem); i += slotSize {
		if k := binary.LittleEndian.Uint64(t.mem[i:]); k != 0 {
			fn(k, binary.LittleEndian.Uint32(t.mem[i+8:]))
		}
	}
}
