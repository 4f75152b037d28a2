package bus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/natstest"
)

// TestConnectAuthMethods starts a server that asks for each NATS
// authentication method in turn and connects with the right credential
// and with a wrong one: the right one works, the wrong one fails at once
// (no retrying a refused credential) with an error that names the method
// and never the secret.
func TestConnectAuthMethods(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nkeyRight, nkeyRightPub := nkeySeed(t, dir, "right.nk")
	nkeyWrong, _ := nkeySeed(t, dir, "wrong.nk")
	credsRight, credsWrong, operator, account, accountJWT := userCreds(t, dir)
	ca, certRight, keyRight, certWrong, keyWrong, serverTLS := tlsFiles(t, dir)

	tests := []struct {
		name         string
		server       func(*server.Options)
		right, wrong bus.Auth
		method       string // in the wrong one's error
		secret       string // never in an error
	}{
		{
			name:   "user and password",
			server: func(o *server.Options) { o.Username, o.Password = "worker", "pa55-right" },
			right:  bus.Auth{User: "worker", Password: "pa55-right"},
			wrong:  bus.Auth{User: "worker", Password: "pa55-wrong"},
			method: "user/password (user worker)", secret: "pa55-wrong",
		},
		{
			name:   "token",
			server: func(o *server.Options) { o.Authorization = "tok-right" },
			right:  bus.Auth{Token: "tok-right"},
			wrong:  bus.Auth{Token: "tok-wrong"},
			method: "token", secret: "tok-wrong",
		},
		{
			name:   "nkey",
			server: func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: nkeyRightPub}} },
			right:  bus.Auth{NKey: nkeyRight},
			wrong:  bus.Auth{NKey: nkeyWrong},
			method: "nkey seed " + nkeyWrong,
		},
		{
			name: "creds (operator mode)",
			server: func(o *server.Options) {
				o.JetStream = false // an operator-mode JetStream needs a system account; auth is what is tested
				o.TrustedOperators = []*jwt.OperatorClaims{operator}
				r := &server.MemAccResolver{}
				if err := r.Store(account, accountJWT); err != nil {
					t.Fatal(err)
				}
				o.AccountResolver = r
			},
			right:  bus.Auth{Creds: credsRight},
			wrong:  bus.Auth{Creds: credsWrong},
			method: "creds file " + credsWrong,
		},
		{
			name: "TLS with a client certificate",
			server: func(o *server.Options) {
				o.TLSConfig, o.TLSVerify = serverTLS, true
			},
			right:  bus.Auth{CA: ca, Cert: certRight, Key: keyRight},
			wrong:  bus.Auth{CA: ca, Cert: certWrong, Key: keyWrong},
			method: "TLS client certificate " + certWrong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := natstest.StartWith(t, tt.server)
			url := s.ClientURL()
			if strings.HasPrefix(url, "nats://") && tt.right.Cert != "" {
				url = "tls://" + strings.TrimPrefix(url, "nats://")
			}
			nc, err := bus.Connect(t.Context(), bus.ConnConfig{URL: url, Auth: tt.right})
			if err != nil {
				t.Fatalf("the right credential: %v", err)
			}
			nc.Close()

			start := time.Now()
			_, err = bus.Connect(t.Context(), bus.ConnConfig{URL: url, Auth: tt.wrong, RetryFor: time.Minute})
			if err == nil {
				t.Fatal("a wrong credential connected")
			}
			if !strings.Contains(err.Error(), "with "+tt.method) {
				t.Errorf("error %q does not name the method %q", err, tt.method)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q shows the secret", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("a refused credential took %v: it was retried", d)
			}
			if _, err := bus.Connect(t.Context(), bus.ConnConfig{URL: url}); err == nil {
				t.Error("no credential connected")
			}
		})
	}
}

func nkeySeed(t *testing.T, dir, name string) (path, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ = kp.PublicKey()
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pub
}

// userCreds makes an operator, an account it signs, a user of that
// account (right) and a user of an account the server does not know
// (wrong), as nsc would.
func userCreds(t *testing.T, dir string) (right, wrong string, op *jwt.OperatorClaims, account, accountJWT string) {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	op = jwt.NewOperatorClaims(opub)
	ojwt, err := op.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	if op, err = jwt.DecodeOperatorClaims(ojwt); err != nil {
		t.Fatal(err)
	}
	user := func(name string, akp nkeys.KeyPair) string {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		apub, _ := akp.PublicKey()
		uc := jwt.NewUserClaims(upub)
		uc.IssuerAccount = apub
		ujwt, err := uc.Encode(akp)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := ukp.Seed()
		creds, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, creds, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	akp, _ := nkeys.CreateAccount()
	account, _ = akp.PublicKey()
	if accountJWT, err = jwt.NewAccountClaims(account).Encode(okp); err != nil {
		t.Fatal(err)
	}
	stranger, _ := nkeys.CreateAccount()
	return user("right.creds", akp), user("wrong.creds", stranger), op, account, accountJWT
}

// tlsFiles makes a CA with a server certificate for 127.0.0.1 and a client
// certificate (right), and a client certificate from another CA (wrong).
func tlsFiles(t *testing.T, dir string) (ca, certRight, keyRight, certWrong, keyWrong string, serverTLS *tls.Config) {
	t.Helper()
	caCert, caKey := newCA(t, "copyguard test CA")
	otherCert, otherKey := newCA(t, "someone else's CA")
	ca = writePEM(t, dir, "ca.pem", "CERTIFICATE", caCert.Raw)
	srvDER, srvKey := leaf(t, caCert, caKey, "nats", true)
	certRight, keyRight = writeLeaf(t, dir, "right", leafPair(t, caCert, caKey))
	certWrong, keyWrong = writeLeaf(t, dir, "wrong", leafPair(t, otherCert, otherKey))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	serverTLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
	}
	return
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, server bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

type pair struct {
	der []byte
	key *ecdsa.PrivateKey
}

func leafPair(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) pair {
	der, key := leaf(t, ca, caKey, "copyguard-worker", false)
	return pair{der, key}
}

func writeLeaf(t *testing.T, dir, name string, p pair) (cert, key string) {
	t.Helper()
	k, err := x509.MarshalECPrivateKey(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+"-cert.pem", "CERTIFICATE", p.der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", k)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
