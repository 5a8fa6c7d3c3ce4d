package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Clients that nobody here wrote verify Gatehouse's tokens of each
// asymmetric algorithm from /.well-known/jwks.json, as a resource server
// in Python, Node or Go would: PyJWT's PyJWKClient (Debian python3-jwt),
// node jose's createRemoteJWKSet, and go-oidc's RemoteKeySet. A rotation
// while they run makes none of them refuse a token.

// verifier checks one token.
type verifier interface {
	name() string
	verify(tok string) error
}

// lineVerifier is a process that reads a token per line and answers "ok
// SUB" or "fail REASON".
type lineVerifier struct {
	label string
	mu    sync.Mutex
	in    io.WriteCloser
	out   *bufio.Reader
}

func (v *lineVerifier) name() string { return v.label }

func (v *lineVerifier) verify(tok string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := io.WriteString(v.in, tok+"\n"); err != nil {
		return err
	}
	line, err := v.out.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "ok ") {
		return errors.New(strings.TrimSpace(line))
	}
	return nil
}

func startLineVerifier(t *testing.T, label string, cmd *exec.Cmd) *lineVerifier {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr: %s", label, stderr.String())
		}
	})
	return &lineVerifier{label: label, in: in, out: bufio.NewReader(out)}
}

const pyjwtVerifier = `
import sys, jwt
from jwt import PyJWKClient
url, iss, alg = sys.argv[1:4]
client = PyJWKClient(url, cache_jwk_set=True, lifespan=300)
for line in sys.stdin:
    tok = line.strip()
    try:
        key = client.get_signing_key_from_jwt(tok)
        claims = jwt.decode(tok, key.key, algorithms=[alg], audience="gatehouse", issuer=iss)
        print("ok", claims["sub"], flush=True)
    except Exception as e:
        print("fail", type(e).__name__, str(e).replace("\n", " "), flush=True)
`

const joseVerifier = `
import { createRemoteJWKSet, jwtVerify } from 'jose';
import readline from 'node:readline';
const [url, iss, alg] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(url));
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  try {
    const { payload } = await jwtVerify(line.trim(), jwks, { issuer: iss, audience: 'gatehouse', algorithms: [alg] });
    console.log('ok ' + payload.sub);
  } catch (e) {
    console.log('fail ' + e.code + ' ' + String(e.message).replace(/\n/g, ' '));
  }
}
`

// pyjwt starts PyJWKClient, or says why it cannot.
func pyjwt(t *testing.T, jwksURL, iss, alg string) (verifier, string) {
	t.Helper()
	const python = "/usr/bin/python3" // Debian's, with python3-jwt; PATH may hold another
	if err := exec.Command(python, "-c", "import jwt, cryptography; jwt.PyJWKClient").Run(); err != nil {
		return nil, fmt.Sprintf("PyJWT interop needs Debian's python3-jwt (apt-get install -y python3-jwt): %v", err)
	}
	return startLineVerifier(t, "PyJWT PyJWKClient", exec.Command(python, "-c", pyjwtVerifier, jwksURL, iss, alg)), ""
}

// joseDir is where `npm install jose` put it: .ci/run installs it there,
// outside the repository.
func joseDir() string {
	if d := os.Getenv("GATEHOUSE_INTEROP_NODE_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "gatehouse-interop", "node")
}

// jose starts node jose's createRemoteJWKSet, or says why it cannot.
func jose(t *testing.T, jwksURL, iss, alg string) (verifier, string) {
	t.Helper()
	dir := joseDir()
	if _, err := exec.LookPath("node"); err != nil {
		return nil, "node jose interop needs node"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
		return nil, fmt.Sprintf("node jose interop needs jose in %s (npm install --prefix %s jose@6, as .ci/run does)", dir, dir)
	}
	// Beside node_modules, so that 'jose' resolves; one per algorithm, as
	// the subtests run at once.
	script := filepath.Join(dir, "gatehouse-verify-"+alg+".mjs")
	if err := os.WriteFile(script, []byte(joseVerifier), 0o644); err != nil {
		t.Fatal(err)
	}
	return startLineVerifier(t, "node jose createRemoteJWKSet", exec.Command("node", script, jwksURL, iss, alg)), ""
}

// goOIDC is go-oidc's remote key set and verifier.
type goOIDC struct{ v *oidc.IDTokenVerifier }

func (goOIDC) name() string { return "go-oidc RemoteKeySet" }

func (g goOIDC) verify(tok string) error {
	_, err := g.v.Verify(context.Background(), tok)
	return err
}

func newGoOIDC(jwksURL, iss, alg string) verifier {
	ks := oidc.NewRemoteKeySet(context.Background(), jwksURL)
	return goOIDC{oidc.NewVerifier(iss, ks, &oidc.Config{ClientID: "gatehouse", SupportedSigningAlgs: []string{alg}})}
}

func TestOtherLibrariesVerifyOurTokensAcrossARotation(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "g.db")
			env := []string{"GATEHOUSE_SIGNING_ALG=" + alg, "GATEHOUSE_JWKS_MAX_AGE=1s", "GATEHOUSE_KEY_ROTATION=0",
				"GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute"}
			in := startSQLite(t, db, env...)
			iss, jwksURL := in.base, in.base+"/.well-known/jwks.json" // the default public URL: http://GATEHOUSE_ADDR

			verifiers := []verifier{newGoOIDC(jwksURL, iss, alg)}
			for _, start := range []func(*testing.T, string, string, string) (verifier, string){pyjwt, jose} {
				// A client that cannot be had is skipped alone, loudly.
				if v, why := start(t, jwksURL, iss, alg); v != nil {
					verifiers = append(verifiers, v)
				} else {
					fmt.Fprintf(os.Stderr, "e2e: SKIPPED %s: %s\n", t.Name(), why)
					t.Run("skipped", func(t *testing.T) { t.Skip(why) })
				}
			}
			first := kidOf(t, in.login(t, "admin", "e2e-admin-password-1"))

			// Tokens go to every client before, during and after a
			// rotation made with the CLI as soon as it is allowed.
			rotated := make(chan error, 1)
			go func() {
				deadline := time.Now().Add(40 * time.Second)
				for {
					cmd := exec.Command(binary, "keys", "rotate", "--alg", alg)
					cmd.Env = append(os.Environ(), "GATEHOUSE_DATABASE_URL=sqlite:"+db, "GATEHOUSE_ENCRYPTION_KEY=", "GATEHOUSE_SECRET_KEY=",
						"GATEHOUSE_SIGNING_ALG="+alg, "GATEHOUSE_JWKS_MAX_AGE=1s")
					out, err := cmd.CombinedOutput()
					if err == nil || !strings.Contains(string(out), "--now") || time.Now().After(deadline) {
						if err != nil {
							err = fmt.Errorf("keys rotate: %v: %s", err, out)
						}
						rotated <- err
						return
					}
					time.Sleep(500 * time.Millisecond)
				}
			}()
			verified := map[string]int{} // by the new key, per client
			failures, checked := 0, 0
			deadline := time.Now().Add(90 * time.Second)
			for newKey := false; !newKey || verified["min"] < 10; {
				if time.Now().After(deadline) {
					t.Fatalf("the new key did not sign enough tokens within 90 s (%d checked)", checked)
				}
				select {
				case err := <-rotated:
					if err != nil {
						t.Fatal(err)
					}
				default:
				}
				tok := in.login(t, "admin", "e2e-admin-password-1")
				kid := kidOf(t, tok)
				newKey = newKey || kid != first
				least := -1
				for _, v := range verifiers {
					if err := v.verify(tok); err != nil {
						failures++
						t.Errorf("%s refused a token of key %s: %v", v.name(), kid, err)
					}
					if kid != first {
						verified[v.name()]++
					}
					if least < 0 || verified[v.name()] < least {
						least = verified[v.name()]
					}
				}
				verified["min"] = least
				checked++
				time.Sleep(100 * time.Millisecond)
			}
			names := make([]string, len(verifiers))
			for i, v := range verifiers {
				names[i] = v.name()
			}
			t.Logf("%s: %d tokens checked by %s across a rotation (%d of the new key each); %d refused",
				alg, checked, strings.Join(names, ", "), verified["min"], failures)
		})
	}
}
