package ecs

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/copyguard/copyguard/cloud"
)

// endpointMapOnce guards the SDK's lazy, unlocked initialisation of the
// package variable ecs.EndpointMap, which every new SDK client reads. This
// is the package's only global state, forced by the SDK.
var endpointMapOnce sync.Once

// Client calls the ECS image-copy APIs. It is safe for concurrent use.
type Client struct {
	endpoint       string
	scheme         string
	connectTimeout time.Duration
	readTimeout    time.Duration
	creds          credentials.CredentialsProvider
	transport      *http.Transport
	// secrets are the static secret and token, to scrub from error text.
	secrets []string
	// sdks holds idle SDK clients. An SDK client is used by one call at a
	// time: the SDK writes each request's timeout into the client's
	// http.Client. All of them share transport and creds.
	sdks sync.Pool
}

// New returns a Client for cfg. It does not contact the API.
func New(cfg Config) (*Client, error) {
	return newClient(cfg, nil)
}

// newClient is New with a TLS configuration for tests (a private CA).
func newClient(cfg Config, tlsConfig *tls.Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ecs config: %w", err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	c := &Client{
		endpoint:       cfg.Endpoint,
		scheme:         "https",
		connectTimeout: cfg.ConnectTimeout,
		readTimeout:    cfg.ReadTimeout,
		creds:          cfg.provider(),
		transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dialer.DialContext,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: cfg.ConnectTimeout,
			ForceAttemptHTTP2:   true,
			// More idle connections than the worker has job handlers: a
			// smaller pool closes and reopens connections (a TLS handshake
			// each) under load.
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   128,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
	if cfg.Insecure {
		c.scheme = "http"
	}
	for _, s := range []string{cfg.AccessKeySecret, cfg.SecurityToken} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	endpointMapOnce.Do(func() { ecs.GetEndpointMap() })
	// Build one SDK client now, so that a problem shows here and not on
	// the first call.
	sc, err := c.newSDK()
	if err != nil {
		return nil, fmt.Errorf("ecs client: %w", err)
	}
	c.sdks.Put(sc)
	return c, nil
}

// String describes c without credentials.
func (c *Client) String() string {
	ep := c.endpoint
	if ep == "" {
		ep = "regional"
	}
	return fmt.Sprintf("ecs.Client{endpoint:%s scheme:%s connect_timeout:%v read_timeout:%v}",
		ep, c.scheme, c.connectTimeout, c.readTimeout)
}

// Close closes idle connections. Calls still in flight finish on their own
// timeouts; c remains usable.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// transport hides the *http.Transport from the SDK, which otherwise
// rewrites its dialer, TLS settings and proxy on every request (racing
// when clients share it).
type transport struct{ t *http.Transport }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) { return t.t.RoundTrip(r) }

func (c *Client) newSDK() (*ecs.Client, error) {
	conf := sdk.NewConfig()
	conf.AutoRetry = false
	conf.MaxRetryTime = 0
	conf.Scheme = c.scheme
	conf.Transport = transport{c.transport}
	return ecs.NewClientWithOptions("", conf, c.creds)
}

func (c *Client) getSDK() (*ecs.Client, error) {
	if sc, ok := c.sdks.Get().(*ecs.Client); ok {
		return sc, nil
	}
	return c.newSDK()
}

// call runs one request on a pooled SDK client, in its own goroutine
// because the SDK takes no context. It returns when the request ends or
// ctx does, whichever is first; in the second case the goroutine goes on
// until the request's read timeout, at most the time ctx had left.
//
// Errors are the mapped ones (see mapError), not yet wrapped with the
// operation's subject.
func (c *Client) call(ctx context.Context, op string, req requests.AcsRequest, resp responses.AcsResponse) error {
	if err := c.prepare(ctx, req); err != nil {
		return &cloud.TransportError{Op: op, Timeout: true, Err: err}
	}
	sc, err := c.getSDK()
	if err != nil {
		return fmt.Errorf("sdk client: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		err := recoverSDK(func() error { return sc.DoAction(req, resp) })
		if _, panicked := err.(*sdkPanic); !panicked {
			c.sdks.Put(sc) // a client that panicked is not trusted again
		}
		done <- err
	}()
	select {
	case err := <-done:
		return c.mapError(op, err, resp)
	case <-ctx.Done():
		select {
		case err := <-done: // finished at the same moment: keep the answer
			return c.mapError(op, err, resp)
		default:
		}
		return &cloud.TransportError{Op: op, Timeout: true, Err: ctx.Err()}
	}
}

// prepare sets the scheme, the endpoint and both timeouts on req. The read
// timeout is the configured one or the time left before ctx's deadline,
// whichever is shorter. It fails if ctx has already ended.
func (c *Client) prepare(ctx context.Context, req requests.AcsRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	read := c.readTimeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return context.DeadlineExceeded
		}
		read = min(read, left)
	}
	// Both timeouts go on every request: the SDK would otherwise fall back
	// to whatever the previous request on this SDK client used. The SDK
	// puts the read timeout on its http.Client, where it bounds the whole
	// request, dial included; the connect timeout is enforced by the
	// shared dialer (the SDK applies it only to an *http.Transport).
	req.SetReadTimeout(read)
	req.SetConnectTimeout(min(c.connectTimeout, read))
	req.SetScheme(c.scheme)
	if c.endpoint != "" {
		req.SetDomain(c.endpoint)
	}
	return nil
}

// recoverSDK runs an SDK call, turning a panic into an error: the SDK
// panics on an error body whose fields are not strings, and a panic in
// call's goroutine would end the process.
func recoverSDK(call func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &sdkPanic{value: r}
		}
	}()
	return call()
}
