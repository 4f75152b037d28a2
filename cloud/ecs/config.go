package ecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

// Defaults for the per-request timeouts.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReadTimeout    = 10 * time.Second
)

const redacted = "[redacted]"

// Config configures a Client. The zero value talks HTTPS to the SDK's
// regional endpoints with the SDK's default credential chain.
//
// Config prints itself (String, GoString, MarshalJSON) with the secret and
// the security token redacted, so it is safe to log.
type Config struct {
	// Endpoint is host[:port] to use for every region instead of the SDK's
	// regional endpoint (ecs.<region>.aliyuncs.com and its table). Empty
	// means the SDK's endpoint. No scheme, path or query.
	Endpoint string
	// Insecure allows plain HTTP (for the simulator and tests). The default
	// is HTTPS with certificate checks.
	Insecure bool
	// Credentials provides the credentials when no static AccessKeyID is
	// set. Nil means the SDK's default chain: environment, OIDC, CLI
	// profile, profile file, ECS RAM role (IMDS), credentials URI. See
	// github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials.
	Credentials credentials.CredentialsProvider
	// AccessKeyID, AccessKeySecret and SecurityToken are static
	// credentials (SecurityToken for STS). When AccessKeyID is set they
	// take precedence over Credentials.
	AccessKeyID, AccessKeySecret, SecurityToken string
	// ConnectTimeout and ReadTimeout bound every request: connecting
	// (TCP and TLS), and the whole request including connecting and
	// reading the answer. Zero means DefaultConnectTimeout and
	// DefaultReadTimeout. A context deadline that is sooner wins.
	ConnectTimeout, ReadTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	return c
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" && !validEndpoint(c.Endpoint) {
		errs = append(errs, fmt.Errorf("endpoint %q: want host[:port] without scheme, path or query", c.Endpoint))
	}
	if c.AccessKeyID != "" && c.AccessKeySecret == "" {
		errs = append(errs, errors.New("access key secret: required with an access key id"))
	}
	if c.AccessKeyID == "" && c.AccessKeySecret != "" {
		errs = append(errs, errors.New("access key id: required with an access key secret"))
	}
	if c.AccessKeyID == "" && c.SecurityToken != "" {
		errs = append(errs, errors.New("security token: requires an access key id and secret"))
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("connect timeout %v: must not be negative", c.ConnectTimeout))
	}
	if c.ReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("read timeout %v: must not be negative", c.ReadTimeout))
	}
	return errors.Join(errs...)
}

func validEndpoint(ep string) bool {
	if strings.ContainsAny(ep, "/?#@ \t\r\n") {
		return false
	}
	u, err := url.Parse("//" + ep)
	return err == nil && u.Host == ep && u.Hostname() != ""
}

// String returns c with the secret and the security token redacted.
func (c Config) String() string {
	return fmt.Sprintf("ecs.Config{Endpoint:%q Insecure:%t Credentials:%s AccessKeyID:%q AccessKeySecret:%s SecurityToken:%s ConnectTimeout:%v ReadTimeout:%v}",
		c.Endpoint, c.Insecure, c.credentialsName(), c.AccessKeyID,
		mask(c.AccessKeySecret), mask(c.SecurityToken), c.ConnectTimeout, c.ReadTimeout)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// MarshalJSON writes c with the secret and the security token redacted,
// for loggers that encode values as JSON. It is not meant to round-trip.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Endpoint        string `json:"endpoint,omitempty"`
		Insecure        bool   `json:"insecure,omitempty"`
		Credentials     string `json:"credentials"`
		AccessKeyID     string `json:"access_key_id,omitempty"`
		AccessKeySecret string `json:"access_key_secret,omitempty"`
		SecurityToken   string `json:"security_token,omitempty"`
		ConnectTimeout  string `json:"connect_timeout"`
		ReadTimeout     string `json:"read_timeout"`
	}{
		c.Endpoint, c.Insecure, c.credentialsName(), c.AccessKeyID,
		maskEmpty(c.AccessKeySecret), maskEmpty(c.SecurityToken),
		c.ConnectTimeout.String(), c.ReadTimeout.String(),
	})
}

func (c Config) credentialsName() string {
	switch {
	case c.AccessKeyID != "" && c.SecurityToken != "":
		return "static_sts"
	case c.AccessKeyID != "":
		return "static_ak"
	case c.Credentials != nil:
		return fmt.Sprintf("%T", c.Credentials)
	}
	return "default_chain"
}

func mask(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

func maskEmpty(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// provider returns the credentials provider the SDK clients share.
func (c Config) provider() credentials.CredentialsProvider {
	switch {
	case c.AccessKeyID != "" && c.SecurityToken != "":
		return &lockedProvider{p: credentials.NewStaticSTSCredentialsProvider(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)}
	case c.AccessKeyID != "":
		return &lockedProvider{p: credentials.NewStaticAKCredentialsProvider(c.AccessKeyID, c.AccessKeySecret)}
	case c.Credentials != nil:
		return &lockedProvider{p: c.Credentials}
	}
	renew := func() credentials.CredentialsProvider {
		return credentials.NewDefaultCredentialsProvider()
	}
	return &lockedProvider{p: renew(), renew: renew}
}

// lockedProvider serialises a credentials provider: the SDK's providers
// cache and refresh credentials without locks, and every pooled SDK client
// calls the one shared provider.
type lockedProvider struct {
	mu sync.Mutex
	p  credentials.CredentialsProvider
	// renew, if set, replaces p after a failure. The SDK's default chain
	// remembers the last provider it tried, even one that failed, and
	// would ask only that one from then on.
	renew func() credentials.CredentialsProvider
}

func (l *lockedProvider) GetCredentials() (*credentials.Credentials, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cc, err := l.p.GetCredentials()
	if err != nil {
		if l.renew != nil {
			l.p = l.renew()
		}
		return nil, &credentialsError{err: err}
	}
	return cc, nil
}

func (l *lockedProvider) GetProviderName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.GetProviderName()
}

// credentialsError marks a failure to get credentials: the request was
// never sent.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "get credentials: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }
