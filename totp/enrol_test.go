package totp

import (
	"bytes"
	"image"
	"image/png"
	"net/url"
	"strings"
	"testing"
)

func TestURIEscapesLabelAndParameters(t *testing.T) {
	tests := []struct {
		name, issuer, account, want string
	}{
		{"plain", "Gatehouse", "alice",
			"otpauth://totp/Gatehouse:alice?secret=" + rfcSecret + "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"},
		{"email account", "Gatehouse", "alice@example.com",
			"otpauth://totp/Gatehouse:alice%40example.com?secret=" + rfcSecret + "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"},
		{"spaces, colon and ampersand", "Acme: Dev & Ops", "bob smith",
			"otpauth://totp/Acme%3A%20Dev%20%26%20Ops:bob%20smith?secret=" + rfcSecret + "&issuer=Acme%3A%20Dev%20%26%20Ops&algorithm=SHA1&digits=6&period=30"},
		{"non-ASCII account", "Gatehouse", "José",
			"otpauth://totp/Gatehouse:Jos%C3%A9?secret=" + rfcSecret + "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"},
		{"no issuer", "", "alice",
			"otpauth://totp/alice?secret=" + rfcSecret + "&algorithm=SHA1&digits=6&period=30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := URI(tt.issuer, tt.account, rfcSecret)
			if got != tt.want {
				t.Fatalf("URI =\n %s\nwant\n %s", got, tt.want)
			}
			// A standard parser recovers every field, and the label has
			// exactly one unescaped colon, the separator.
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if tt.issuer != "" {
				issuer, account, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), ":")
				if strings.Count(u.EscapedPath(), ":") != 1 || unescape(t, issuer) != tt.issuer || unescape(t, account) != tt.account {
					t.Errorf("label %q does not split into %q and %q", u.EscapedPath(), tt.issuer, tt.account)
				}
			}
			q := u.Query()
			if q.Get("issuer") != tt.issuer || q.Get("secret") != rfcSecret {
				t.Errorf("query %v: want issuer %q and the secret", q, tt.issuer)
			}
		})
	}
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.PathUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestQRPNGRefusesNonASCII(t *testing.T) {
	// Unescaped UTF-8 would be misread by scanners that guess another charset.
	if _, err := QRPNG("otpauth://totp/Gatehouse:José?secret=" + rfcSecret); err == nil {
		t.Error("QRPNG accepted a non-ASCII URI")
	}
}

func TestQRPNGHasAWhiteQuietZone(t *testing.T) {
	data, err := QRPNG(URI("Gatehouse", "alice@example.com", rfcSecret))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != b.Dy() || b.Dx()%qrModulePixels != 0 {
		t.Fatalf("image is %v: want a square of whole modules", b)
	}
	zone := qrQuietZone * qrModulePixels
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			inside := image.Pt(x, y).In(image.Rect(zone, zone, b.Dx()-zone, b.Dy()-zone))
			switch {
			case r < 0x8000 && !inside:
				t.Fatalf("dark pixel at (%d,%d) inside the %d-pixel quiet zone", x, y, zone)
			case r < 0x8000:
				dark++
			}
		}
	}
	if dark == 0 {
		t.Error("no dark pixels: the symbol is missing")
	}
}
