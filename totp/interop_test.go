package totp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests check interoperability with independent implementations:
// oathtool (OATH Toolkit) for the codes, zbarimg (ZBar) for the QR image.

func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed; run apt-get install oathtool zbar-tools", name)
	}
	return path
}

func TestOathtoolCodesVerify(t *testing.T) {
	oathtool := needTool(t, "oathtool")
	secret := GenerateSecret()
	times := []time.Time{
		time.Unix(59, 0),
		time.Unix(1_111_111_111, 0),
		time.Unix(1_700_000_000, 0),
		time.Unix(1_700_000_029, 0), // last second of a step
		time.Unix(2_000_000_000, 0),
		time.Unix(20_000_000_000, 0), // past 2038 and 32-bit counters
	}
	for _, at := range times {
		out, err := exec.Command(oathtool, "--totp", "-b", "-N", "@"+strconv.FormatInt(at.Unix(), 10), secret).Output()
		if err != nil {
			t.Fatalf("oathtool at %d: %v", at.Unix(), err)
		}
		code := strings.TrimSpace(string(out))
		step, ok := Verify(secret, code, at, 0)
		if !ok || step != StepAt(at) {
			t.Errorf("at %d: oathtool's code %s: Verify = step %d, %v; want step %d", at.Unix(), code, step, ok, StepAt(at))
		}
		if ours, _ := Code(secret, at); ours != code {
			t.Errorf("at %d: Code = %s, oathtool says %s", at.Unix(), ours, code)
		}
	}
}

func TestOathtoolCurrentCodeVerifiesNow(t *testing.T) {
	oathtool := needTool(t, "oathtool")
	secret := GenerateSecret()
	out, err := exec.Command(oathtool, "--totp", "-b", secret).Output()
	if err != nil {
		t.Fatal(err)
	}
	// One step of skew absorbs a step boundary crossed between the two calls.
	if _, ok := Verify(secret, strings.TrimSpace(string(out)), time.Now(), 0); !ok {
		t.Errorf("oathtool's current code %s refused", out)
	}
}

func TestZbarimgDecodesQRPNGToTheExactURI(t *testing.T) {
	zbarimg := needTool(t, "zbarimg")
	secret := GenerateSecret()
	uris := []string{
		URI("Gatehouse", "alice", secret),
		URI("Gatehouse", "alice@example.com", secret),
		URI("Acme: Dev & Ops", "bob smith", secret),
		URI("Gatehouse", "José Müller", secret),
		URI("Gatehouse", "用户@例子.中国", secret),
		URI("Gatehouse", strings.Repeat("long-account-name.", 12), secret),
	}
	dir := t.TempDir()
	for i, uri := range uris {
		img, err := QRPNG(uri)
		if err != nil {
			t.Fatalf("QRPNG(%q): %v", uri, err)
		}
		file := filepath.Join(dir, strconv.Itoa(i)+".png")
		if err := os.WriteFile(file, img, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbarimg, "--raw", "-q", file).Output()
		if err != nil {
			t.Fatalf("zbarimg on the QR of %q: %v", uri, err)
		}
		if got := strings.TrimSuffix(string(out), "\n"); got != uri {
			t.Errorf("zbarimg read\n %q\nwant\n %q", got, uri)
		}
	}
}
