package password

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// ProcessHasher hashes and verifies passwords in child processes (the same
// binary, run as a hash worker: ServeWorker) at a lower OS priority, so
// that a flood of logins takes only the CPU that token verification leaves
// over. Lowering the priority of the hashing threads in-process does not
// work: x/crypto/argon2 runs each segment of a hash in a new goroutine,
// which the Go scheduler puts on any thread.
//
// Passwords cross a pipe to a process of the same user and binary, which
// never logs and exits when its input closes (the server's end). A
// ProcessHasher has the methods of Hasher; calls are spread over its
// workers, waiting for a free one (the Pool in front bounds them).
type ProcessHasher struct {
	start func() (*worker, error)
	free  chan *worker
}

type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// The operations of the worker protocol.
const (
	opHash byte = iota + 1
	opVerify
	opDummy
)

// NewProcessHasher starts n workers, each made by cmd (a command that runs
// ServeWorker, such as the server's own binary with a hidden subcommand)
// and given the OS priority nice (0 to 19; higher is lower priority) where
// the OS supports it.
func NewProcessHasher(cmd func() *exec.Cmd, n, nice int) (*ProcessHasher, error) {
	p := &ProcessHasher{free: make(chan *worker, max(n, 1))}
	p.start = func() (*worker, error) {
		c := cmd()
		in, err := c.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("password: hash worker: %w", err)
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("password: hash worker: %w", err)
		}
		if err := startNiced(c, nice); err != nil {
			return nil, fmt.Errorf("password: hash worker: %w", err)
		}
		return &worker{cmd: c, in: in, out: bufio.NewReader(out)}, nil
	}
	for range max(n, 1) {
		w, err := p.start()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.free <- w
	}
	return p, nil
}

// Close stops the workers that are idle; call it once no call is running.
func (p *ProcessHasher) Close() {
	for {
		select {
		case w := <-p.free:
			if w.cmd != nil {
				w.stop()
			}
		default:
			return
		}
	}
}

func (w *worker) stop() {
	w.in.Close() // the worker exits at the end of its input
	w.cmd.Wait()
}

// call runs one operation on a free worker. A worker that fails is
// replaced, so one crash does not shrink the pool; if it cannot be (the
// binary gone), its slot stays, empty, and each later call there tries
// again and fails at once rather than waiting forever.
func (p *ProcessHasher) call(op byte, a, b string) (resp, error) {
	w := <-p.free
	defer func() { p.free <- w }()
	if w.cmd == nil {
		nw, err := p.start()
		if err != nil {
			return resp{}, err
		}
		*w = *nw
	}
	r, err := w.roundTrip(op, a, b)
	if err != nil {
		w.cmd.Process.Kill()
		w.stop()
		*w = worker{}
		if nw, serr := p.start(); serr == nil {
			*w = *nw
		}
	}
	return r, err
}

type resp struct {
	ok, rehash bool
	err        string
	hash       string
}

func (w *worker) roundTrip(op byte, a, b string) (resp, error) {
	var r resp
	if err := writeFrame(w.in, op, a, b); err != nil {
		return r, fmt.Errorf("password: hash worker: %w", err)
	}
	var flags [1]byte
	if _, err := io.ReadFull(w.out, flags[:]); err != nil {
		return r, fmt.Errorf("password: hash worker: %w", err)
	}
	e, err := readString(w.out)
	if err != nil {
		return r, fmt.Errorf("password: hash worker: %w", err)
	}
	h, err := readString(w.out)
	if err != nil {
		return r, fmt.Errorf("password: hash worker: %w", err)
	}
	r.ok, r.rehash, r.err, r.hash = flags[0]&1 != 0, flags[0]&2 != 0, e, h
	return r, nil
}

// Hash is Hasher.Hash, in a worker.
func (p *ProcessHasher) Hash(password string) (string, error) {
	r, err := p.call(opHash, password, "")
	if err != nil {
		return "", err
	}
	if r.err != "" {
		return "", errors.New(r.err)
	}
	return r.hash, nil
}

// Verify is Hasher.Verify, in a worker.
func (p *ProcessHasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	r, err := p.call(opVerify, password, encoded)
	if err != nil {
		return false, false, err
	}
	if r.err != "" {
		return false, false, errors.New(r.err)
	}
	return r.ok, r.rehash, nil
}

// VerifyDummy is Hasher.VerifyDummy, in a worker.
func (p *ProcessHasher) VerifyDummy(password string) { p.call(opDummy, password, "") }

// maxField bounds a field of the protocol: passwords are at most
// MaxLength bytes and hashes far shorter.
const maxField = 1 << 16

func writeFrame(w io.Writer, op byte, a, b string) error {
	buf := make([]byte, 0, 9+len(a)+len(b))
	buf = append(buf, op)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(a)))
	buf = append(buf, a...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	buf = append(buf, b...)
	_, err := w.Write(buf)
	return err
}

func readString(r io.Reader) (string, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	l := binary.BigEndian.Uint32(n[:])
	if l > maxField {
		return "", errors.New("field too long")
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// ServeWorker answers a ProcessHasher's requests on in and out with h
// until in ends. It is what a hash worker process runs.
func ServeWorker(in io.Reader, out io.Writer, h *Hasher) error {
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	for {
		op, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("password: worker: %w", err)
		}
		a, err := readString(r)
		if err != nil {
			return fmt.Errorf("password: worker: %w", err)
		}
		b, err := readString(r)
		if err != nil {
			return fmt.Errorf("password: worker: %w", err)
		}
		var res resp
		switch op {
		case opHash:
			res.hash, err = h.Hash(a)
		case opVerify:
			res.ok, res.rehash, err = h.Verify(a, b)
		case opDummy:
			h.VerifyDummy(a)
		default:
			return fmt.Errorf("password: worker: unknown operation %d", op)
		}
		if err != nil {
			res.err = err.Error() // never holds the password or the hash
		}
		var flags byte
		if res.ok {
			flags |= 1
		}
		if res.rehash {
			flags |= 2
		}
		buf := []byte{flags}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(res.err)))
		buf = append(buf, res.err...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(res.hash)))
		buf = append(buf, res.hash...)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("password: worker: %w", err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("password: worker: %w", err)
		}
	}
}
