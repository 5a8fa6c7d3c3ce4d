package password

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain doubles as the hash worker the ProcessHasher tests start: the
// test binary run again with GATEHOUSE_TEST_HASH_WORKER set.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_TEST_HASH_WORKER") == "1" {
		if err := ServeWorker(os.Stdin, os.Stdout, NewHasher(testParams)); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func workerCmd() *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "GATEHOUSE_TEST_HASH_WORKER=1")
	return c
}

func TestProcessHasherAnswersAsTheHasher(t *testing.T) {
	p, err := NewProcessHasher(workerCmd, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h, err := p.Hash("correct horse")
	if err != nil || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("Hash = %q, %v", h, err)
	}
	// The in-process Hasher agrees with the worker's hash, both ways.
	local := NewHasher(testParams)
	if ok, _, err := local.Verify("correct horse", h); !ok || err != nil {
		t.Fatalf("the worker's hash does not verify in process: %v, %v", ok, err)
	}
	mine, _ := local.Hash("battery staple")
	for _, c := range []struct {
		pw, enc string
		ok      bool
	}{{"correct horse", h, true}, {"wrong", h, false}, {"battery staple", mine, true}, {"", mine, false}} {
		if ok, rehash, err := p.Verify(c.pw, c.enc); ok != c.ok || rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v", c.pw, ok, rehash, err, c.ok)
		}
	}
	if ok, _, err := p.Verify("x", "$argon2id$garbage"); ok || err == nil {
		t.Fatalf("a malformed hash: %v, %v; want an error", ok, err)
	}
	if ok, _, err := p.Verify("x", "plain"); ok || err == nil || strings.Contains(err.Error(), "plain") {
		t.Fatalf("an unsupported scheme: %v, %v; want an error that does not quote the hash", ok, err)
	}
	p.VerifyDummy("anything")
}

// Linux: every thread of a worker runs at the priority asked for, and the
// server's own threads keep theirs.
func TestProcessHasherWorkersAreNiced(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("priorities are set on Linux only")
	}
	p, err := NewProcessHasher(workerCmd, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Hash("make it start its threads"); err != nil {
		t.Fatal(err)
	}
	w := <-p.free
	pid := w.cmd.Process.Pid
	p.free <- w
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of the worker: %v", err)
	}
	for _, task := range tasks {
		if n := niceOf(t, "/proc/"+strconv.Itoa(pid)+"/task/"+task.Name()+"/stat"); n != 7 {
			t.Fatalf("worker thread %s has nice %d, want 7", task.Name(), n)
		}
	}
	if n := niceOf(t, "/proc/self/stat"); n == 7 {
		t.Fatal("the server's main thread was niced too")
	}
}

func niceOf(t *testing.T, stat string) int {
	b, err := os.ReadFile(stat)
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: nice is the
	// 19th field of the file, the 17th after ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A worker that dies is replaced: the call fails, the next one works.
func TestProcessHasherReplacesADeadWorker(t *testing.T) {
	p, err := NewProcessHasher(workerCmd, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := <-p.free
	w.cmd.Process.Kill()
	w.cmd.Wait()
	p.free <- w
	if _, err := p.Hash("pw"); err == nil {
		t.Fatal("a call to a dead worker must fail")
	}
	if h, err := p.Hash("pw"); err != nil || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("after a replacement: %q, %v", h, err)
	}
}

// A worker that cannot be restarted leaves calls failing at once, never
// waiting for a worker that will not come back.
func TestProcessHasherFailsFastWithoutAWorker(t *testing.T) {
	var gone atomic.Bool
	cmd := func() *exec.Cmd {
		if gone.Load() {
			return exec.Command("/nonexistent/gatehouse-hash-worker")
		}
		return workerCmd()
	}
	p, err := NewProcessHasher(cmd, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	gone.Store(true)
	w := <-p.free
	w.cmd.Process.Kill()
	w.cmd.Wait()
	p.free <- w
	done := make(chan error, 3)
	go func() {
		for range 3 {
			_, err := p.Hash("pw")
			done <- err
		}
	}()
	for range 3 {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a call without a worker succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call without a worker hangs")
		}
	}
	gone.Store(false) // the binary is back: the next call starts a worker
	if h, err := p.Hash("pw"); err != nil || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("once a worker can start again: %q, %v", h, err)
	}
}
