package httpapi_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/auth"
)

// These tests hold the served enrolment to independent implementations:
// ZBar reads the QR code, OATH Toolkit computes the codes.

func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed; run apt-get install oathtool zbar-tools", name)
	}
	return path
}

// oathtoolCode is oathtool's code for secret at the server's (fake) time.
func (e *tfEnv) oathtoolCode(oathtool, secret string) string {
	e.t.Helper()
	at := "@" + strconv.FormatInt(e.clock.Now().Unix(), 10)
	out, err := exec.Command(oathtool, "--totp", "-b", "-N", at, secret).Output()
	if err != nil {
		e.t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Each setup draws a new secret, so one setup cannot be fetched as both a
// PNG and JSON. The test shows instead that the PNG's URI is the JSON
// form's URI with only the secret differing, and that the PNG's secret is
// the live one: oathtool's code for it enables 2FA, and one for the secret
// it replaced does not.
func TestServedQRCodeAndSecretWorkWithZbarimgAndOathtool(t *testing.T) {
	zbarimg, oathtool := lookTool(t, "zbarimg"), lookTool(t, "oathtool")
	e := newTwoFactorEnv(t)
	const name = "José Müller" // percent-encoded in the URI, so the QR code stays ASCII
	if _, err := e.svc.CreateUser(context.Background(), auth.NewUser{Username: name, Password: tfPassword}); err != nil {
		t.Fatal(err)
	}
	at, _ := e.mustLogin(name, tfPassword)

	jsonSecret, jsonURI := e.setupJSON(at)
	png := e.post("/2fa/setup", at)
	wantStatus(t, png, 200)
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, []byte(png.raw), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbarimg, "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg could not read the served QR code: %v", err)
	}
	pngURI := strings.TrimSuffix(string(out), "\n")
	u, err := url.Parse(pngURI)
	if err != nil {
		t.Fatalf("zbarimg read %q: %v", pngURI, err)
	}
	pngSecret := u.Query().Get("secret")
	if pngSecret == "" || pngSecret == jsonSecret {
		t.Fatalf("secret in the QR code: %q (the JSON setup's was %q)", pngSecret, jsonSecret)
	}
	if want := strings.Replace(jsonURI, jsonSecret, pngSecret, 1); pngURI != want {
		t.Fatalf("zbarimg read\n %q\nwant the served otpauth_uri form\n %q", pngURI, want)
	}

	wantDetail(t, e.postCode("/2fa/verify", at, e.oathtoolCode(oathtool, jsonSecret)), 400, "Invalid 2FA code")
	wantStatus(t, e.postCode("/2fa/verify", at, e.oathtoolCode(oathtool, pngSecret)), 200)
	e.nextStep()
	wantStatus(t, e.loginOTP(name, e.oathtoolCode(oathtool, pngSecret)), 200)
}
