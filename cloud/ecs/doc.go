// Package ecs is copyguard's adapter for the Alibaba Cloud ECS image-copy
// APIs (CancelCopyImage, DescribeImages, CopyImage) on the official SDK,
// github.com/aliyun/alibaba-cloud-sdk-go/services/ecs.
//
// It owns everything that is specific to that SDK and must not leak past
// it: the wire scheme (HTTPS unless Config.Insecure), the endpoint
// override, per-request timeouts, context support, concurrency safety, and
// the mapping of SDK errors onto the vendor-neutral errors of package cloud
// (*cloud.APIError, *cloud.TransportError, cloud.ErrMalformedResponse), so
// that cloud.Classify can decide what an error means. It imports package
// cloud and the SDK; it must not import any other copyguard package.
//
// The SDK has sharp edges this package works around (ecs-api.md §5):
//
//   - Its default scheme is plain HTTP; every request here sets the scheme.
//   - Its auto-retry has no backoff and retries non-idempotent calls; it
//     is off, the worker owns retries.
//   - An SDK client is not safe for concurrent use (it writes the chosen
//     timeout into its shared http.Client), and the timeout of one request
//     leaks into the next. Client keeps a pool of SDK clients, one per
//     call in flight, and sets both timeouts on every request.
//   - The SDK's credential providers have no locks; Client serialises
//     them behind one mutex, and renews the default chain after a failure
//     because that chain otherwise sticks to the last provider it tried.
//   - The SDK has no context support. Each call runs in its own goroutine;
//     the caller gets control back when its context ends, and the call
//     ends on its own by its read timeout, which is never longer than the
//     context's deadline at the start of the call.
//   - A non-string field in an error body makes the SDK panic; the panic
//     is recovered and turned into a *cloud.APIError.
//   - The SDK rewrites the dialer, TLS settings and proxy of any
//     *http.Transport it is given. Client gives it a RoundTripper that is
//     not an *http.Transport, so those stay as set here: TLS 1.2 or later
//     with certificate checks, the connect timeout, and the standard
//     proxy environment (HTTPS_PROXY, NO_PROXY; loopback never proxied).
//
// SDK global state touched: the first New initialises the ECS endpoint
// map of the SDK (ecs.GetEndpointMap writes a package variable on first
// use, racily), once, under a sync.Once. Do not run with DEBUG=sdk in
// production: the SDK then prints signed request URLs (including any STS
// SecurityToken) to stdout.
//
// Secrets never appear in error strings: transport errors carry the URL
// without its query, API messages lose the server's string-to-sign, and
// Config prints itself with the secret and token redacted.
package ecs
