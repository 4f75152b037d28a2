package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnConfig says how to reach NATS. Auth comes from the usual NATS_*
// environment variables (see AuthFromEnv).
type ConnConfig struct {
	URL  string // comma-separated server URLs
	Name string // connection name shown by the server
	Auth Auth
	// OnEvent, if set, is told about disconnects, reconnects, async errors
	// and the final close ("disconnected", "reconnected", "async_error", "closed").
	OnEvent func(event string, err error)
	// InboxPrefix replaces "_INBOX" as the prefix of reply subjects, so
	// that NATS permissions can keep each role's replies (KV values among
	// them) from the others (deploy/nats/permissions.conf).
	InboxPrefix string
	// RetryFor keeps trying the first connect for this long, with backoff,
	// while the servers cannot be reached (a pod started before NATS). A
	// refused credential is not retried. Zero: one try.
	RetryFor time.Duration
}

// Auth holds the credentials the nats CLI also reads from the environment.
type Auth struct {
	Creds, NKey, Cert, Key, CA, User, Password, Token string
}

// AuthFromEnv reads NATS_CREDS, NATS_NKEY, NATS_CERT, NATS_KEY, NATS_CA,
// NATS_USER, NATS_PASSWORD and NATS_TOKEN.
func AuthFromEnv() Auth {
	return Auth{
		Creds: os.Getenv("NATS_CREDS"), NKey: os.Getenv("NATS_NKEY"),
		Cert: os.Getenv("NATS_CERT"), Key: os.Getenv("NATS_KEY"), CA: os.Getenv("NATS_CA"),
		User: os.Getenv("NATS_USER"), Password: os.Getenv("NATS_PASSWORD"),
		Token: os.Getenv("NATS_TOKEN"),
	}
}

// Or returns a with the empty fields taken from b: flags over the
// environment.
func (a Auth) Or(b Auth) Auth {
	pick := func(x, y string) string {
		if x != "" {
			return x
		}
		return y
	}
	return Auth{Creds: pick(a.Creds, b.Creds), NKey: pick(a.NKey, b.NKey), Cert: pick(a.Cert, b.Cert),
		Key: pick(a.Key, b.Key), CA: pick(a.CA, b.CA), User: pick(a.User, b.User),
		Password: pick(a.Password, b.Password), Token: pick(a.Token, b.Token)}
}

// Method names the credentials a connection presents, for errors: which
// method, and which file or user, never a secret.
func (a Auth) Method() string {
	var m []string
	if a.Creds != "" {
		m = append(m, "creds file "+a.Creds)
	}
	if a.NKey != "" {
		m = append(m, "nkey seed "+a.NKey)
	}
	if a.User != "" {
		m = append(m, "user/password (user "+a.User+")")
	}
	if a.Token != "" {
		m = append(m, "token")
	}
	if a.Cert != "" {
		m = append(m, "TLS client certificate "+a.Cert)
	}
	if len(m) == 0 {
		m = append(m, "no credentials")
	}
	if a.CA != "" {
		m = append(m, "CA "+a.CA)
	}
	return strings.Join(m, ", ")
}

// Options turns the credentials into nats.go options.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.Creds != "" {
		opts = append(opts, nats.UserCredentials(a.Creds))
	}
	if a.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats nkey %s: %w", a.NKey, err)
		}
		opts = append(opts, o)
	}
	if (a.Cert == "") != (a.Key == "") {
		return nil, errors.New("nats tls: NATS_CERT and NATS_KEY go together")
	}
	if a.Cert != "" {
		opts = append(opts, nats.ClientCert(a.Cert, a.Key))
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	if a.User != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.Password != "" && a.User == "" {
		return nil, errors.New("nats password: NATS_PASSWORD needs a user (NATS_USER or --nats-user)")
	}
	return opts, nil
}

// Connect dials NATS and, once connected, keeps reconnecting forever, with
// jitter, so a NATS restart pauses the worker instead of ending it. The
// first connect is tried for cfg.RetryFor: a worker that never reaches its
// server in that time is misconfigured, and says which URL it tried.
func Connect(ctx context.Context, cfg ConnConfig) (*nats.Conn, error) {
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("connect nats: empty url")
	}
	opts, err := cfg.Auth.Options()
	if err != nil {
		return nil, err
	}
	event := cfg.OnEvent
	if event == nil {
		event = func(string, error) {}
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	opts = append(opts,
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { event("disconnected", err) }),
		nats.ReconnectHandler(func(*nats.Conn) { event("reconnected", nil) }),
		nats.ClosedHandler(func(*nats.Conn) { event("closed", nil) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { event("async_error", err) }),
	)
	start := time.Now()
	wait := 200 * time.Millisecond
	for {
		nc, err := nats.Connect(cfg.URL, opts...)
		if err == nil {
			return nc, nil
		}
		err = fmt.Errorf("connect nats %s with %s: %w", RedactURL(cfg.URL), cfg.Auth.Method(), err)
		left := cfg.RetryFor - time.Since(start)
		if refused(err) || left <= 0 {
			if cfg.RetryFor > 0 && !refused(err) {
				err = fmt.Errorf("%w (gave up after %v)", err, time.Since(start).Round(100*time.Millisecond))
			}
			return nil, err
		}
		event("connect_failed", err)
		t := time.NewTimer(min(wait/2+rand.N(wait/2+1), left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (stopped: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// refused reports an answer that waiting will not change: the server was
// reached and said no (credentials, TLS).
func refused(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) ||
		errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) ||
		errors.Is(err, nats.ErrNkeysNotSupported) || strings.Contains(err.Error(), "x509:") ||
		strings.Contains(err.Error(), "remote error: tls:") ||
		strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// RedactURL hides passwords in nats://user:pass@host URLs.
func RedactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if k := strings.Index(p, "://"); k >= 0 && k < at {
				scheme = p[:k+3]
			}
			parts[i] = scheme + "***@" + p[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
