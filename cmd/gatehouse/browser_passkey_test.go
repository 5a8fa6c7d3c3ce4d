package main

import (
	"strings"
	"testing"
)

func TestParseWebAuthn(t *testing.T) {
	for _, tt := range []struct {
		name, public, rpID, origins string
		wantRPID, wantOff, wantEnv  string // wantEnv: the setting a refusal names
	}{
		{name: "defaults from a host name", public: "https://auth.example.com", wantRPID: "auth.example.com"},
		{name: "localhost over http", public: "http://localhost:8000", wantRPID: "localhost"},
		{name: "the default public URL: unavailable, not an error", public: "http://127.0.0.1:8000", wantOff: "IP address"},
		{name: "plain http off localhost: unavailable", public: "http://auth.example.com", wantOff: "plain http"},
		{name: "a parent domain and two origins", public: "https://auth.example.com", rpID: "example.com",
			origins: "https://auth.example.com, https://app.example.com", wantRPID: "example.com"},
		{name: "an IP address set as RP ID", public: "https://auth.example.com", rpID: "10.0.0.1", wantEnv: "GATEHOUSE_WEBAUTHN_RP_ID"},
		{name: "an RP ID the public URL is not on", public: "https://auth.example.com", rpID: "example.org", wantEnv: "GATEHOUSE_WEBAUTHN_RP_ID"},
		{name: "an origin on another domain", public: "https://auth.example.com", origins: "https://evil.example", wantEnv: "GATEHOUSE_WEBAUTHN_ORIGINS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rp, off, err := parseWebAuthn(tt.public, tt.rpID, tt.origins)
			switch {
			case tt.wantEnv != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantEnv) || exitCode(err) != 2 {
					t.Fatalf("err = %v; want a configuration error naming %s", err, tt.wantEnv)
				}
			case tt.wantOff != "":
				if err != nil || rp != nil || !strings.Contains(off, tt.wantOff) || !strings.Contains(off, "GATEHOUSE_PUBLIC_URL") {
					t.Fatalf("= %v, %q, %v; want unavailable saying %q and how to fix it", rp, off, err, tt.wantOff)
				}
			default:
				if err != nil || rp == nil || rp.RPID() != tt.wantRPID || off != "" {
					t.Fatalf("= %v, %q, %v; want RP ID %q", rp, off, err, tt.wantRPID)
				}
			}
		})
	}
}
