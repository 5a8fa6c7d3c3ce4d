package totp

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/boombuler/barcode/qr"
)

// URI returns the otpauth URI an authenticator app enrols from, in Google's
// Key Uri Format:
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
//
// Issuer and account are percent-encoded everywhere except RFC 3986
// unreserved characters, so a ':' inside either (which the format forbids as
// the label separator) becomes %3A, and a space %20, never '+'. An empty
// issuer leaves out both the label prefix and the parameter.
func URI(issuer, account, secret string) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(escape(issuer))
		b.WriteByte(':')
	}
	b.WriteString(escape(account))
	b.WriteString("?secret=")
	b.WriteString(escape(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(escape(issuer))
	}
	b.WriteString("&algorithm=SHA1&digits=" + strconv.Itoa(digits) + "&period=" + strconv.Itoa(periodSecs))
	return b.String()
}

// escape percent-encodes every byte except RFC 3986 §2.3 unreserved ones.
// net/url's escapers leave ':' and '@' in paths and write spaces in queries as
// '+', which authenticator apps read inconsistently.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

const (
	qrModulePixels = 8 // pixels per QR module: sharp on screens, easy for cameras
	qrQuietZone    = 4 // modules of white border that ISO/IEC 18004 requires
)

// QRPNG renders uri as a QR code PNG with medium error correction (15% of the
// symbol may be damaged) and the 4-module quiet zone scanners need.
//
// uri must be ASCII, as URI's output always is: QR byte mode carries no
// character set without an ECI header, which the encoder does not write, so
// scanners guess, and ZBar, for one, reads UTF-8 as Shift JIS.
func QRPNG(uri string) ([]byte, error) {
	for i := range len(uri) {
		if uri[i] >= utf8.RuneSelf {
			return nil, errors.New("totp: encode QR: URI is not ASCII; percent-encode it")
		}
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: encode QR: %w", err)
	}
	modules := code.Bounds().Dx()
	side := (modules + 2*qrQuietZone) * qrModulePixels
	// Two colours, so the PNG encoder writes one bit per pixel; index 0 (white)
	// is the zero value, which makes the quiet zone free.
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := range modules {
		for x := range modules {
			if r, _, _, _ := code.At(x, y).RGBA(); r > 0x7fff {
				continue // light module
			}
			x0, y0 := (x+qrQuietZone)*qrModulePixels, (y+qrQuietZone)*qrModulePixels
			for py := y0; py < y0+qrModulePixels; py++ {
				row := img.Pix[py*img.Stride+x0:]
				for px := range qrModulePixels {
					row[px] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
