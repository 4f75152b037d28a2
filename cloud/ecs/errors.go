package ecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"

	"github.com/copyguard/copyguard/cloud"
)

// maxMessage caps the message kept from an error body (a proxy's HTML
// page can be large).
const maxMessage = 4096

// sdkPanic is a panic recovered from inside the SDK.
type sdkPanic struct{ value any }

func (p *sdkPanic) Error() string { return fmt.Sprintf("sdk panic: %v", p.value) }

// mapError turns what the SDK returned into the errors of package cloud:
//
//   - *errors.ServerError (a non-2xx answer) → *cloud.APIError with the
//     code, the real HTTP status, the request id and the message;
//   - a recovered SDK panic on a non-2xx answer → *cloud.APIError, with
//     the fields read from the body whatever their JSON type;
//   - a 2xx answer whose body does not parse → cloud.ErrMalformedResponse;
//   - *url.Error, net.Error, ClientError SDK.TimeoutError →
//     *cloud.TransportError, Timeout when it was one;
//   - a failure to get credentials, and anything else, is returned as it
//     is.
//
// Error text is scrubbed of secrets, signatures and signed URLs.
func (c *Client) mapError(op string, err error, resp responses.AcsResponse) error {
	if err == nil {
		return nil
	}
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		reqID := se.RequestId()
		if reqID == "" {
			reqID = http.Header(resp.GetHttpHeaders()).Get("x-acs-request-id")
		}
		return &cloud.APIError{
			Code:       se.ErrorCode(),
			HTTPStatus: se.HttpStatus(),
			RequestID:  reqID,
			Message:    c.scrub(capMessage(se.Message())),
		}
	}
	var sp *sdkPanic
	if errors.As(err, &sp) {
		return c.panicError(sp, resp)
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		switch ce.ErrorCode() {
		case sdkerrors.JsonUnmarshalErrorCode:
			return fmt.Errorf("%w: %s", cloud.ErrMalformedResponse, c.scrub(causeText(ce)))
		case sdkerrors.TimeoutErrorCode:
			// Only with the SDK's auto-retry, which is off; kept in case.
			te := &cloud.TransportError{Op: op, Timeout: true, Err: errors.New("sdk timeout")}
			if o := ce.OriginError(); o != nil {
				te.Err = c.transportCause(o)
				te.Timeout = isTimeout(o) || strings.Contains(o.Error(), "Client.Timeout")
			}
			return te
		}
		return c.redact(err)
	}
	// Credentials failed before anything was sent. The error is kept as
	// it is: Classify finds a network error inside (IMDS or STS out of
	// reach) retryable, and anything else permanent.
	var cre *credentialsError
	if errors.As(err, &cre) {
		return c.redact(err)
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return &cloud.TransportError{Op: op, Timeout: isTimeout(err), Err: c.transportCause(err)}
	}
	return c.redact(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func causeText(ce *sdkerrors.ClientError) string {
	if o := ce.OriginError(); o != nil {
		return o.Error()
	}
	return ce.Message()
}

// panicError builds an APIError from the answer the SDK choked on, which
// the SDK stored in resp before it panicked.
func (c *Client) panicError(sp *sdkPanic, resp responses.AcsResponse) error {
	status := resp.GetHttpStatus()
	if status == 0 {
		return sp
	}
	if status >= 200 && status < 300 {
		return fmt.Errorf("%w: %v", cloud.ErrMalformedResponse, sp)
	}
	e := &cloud.APIError{HTTPStatus: status, Message: c.scrub(capMessage(resp.GetHttpContentString()))}
	var body map[string]any
	if json.Unmarshal(resp.GetHttpContentBytes(), &body) == nil {
		e.Code = anyString(body["Code"])
		e.RequestID = anyString(body["RequestId"])
		e.Message = c.scrub(capMessage(anyString(body["Message"])))
	}
	if e.RequestID == "" {
		e.RequestID = http.Header(resp.GetHttpHeaders()).Get("x-acs-request-id")
	}
	return e
}

// anyString renders a JSON value as the string the API should have sent.
func anyString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func capMessage(s string) string {
	if len(s) > maxMessage {
		return strings.ToValidUTF8(s[:maxMessage], "") + "..."
	}
	return s
}

// transportCause returns err with the request URL cut down to scheme,
// host and path: the query holds the signature, the access key id and
// any STS security token.
func (c *Client) transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: c.redact(ue.Err)}
	}
	return c.redact(err)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable url]"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// redact returns err itself if its text is clean, or an error with the
// scrubbed text that still unwraps to err.
func (c *Client) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := c.scrub(msg); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// signedParam matches a query parameter that must not be shown, raw or
// percent-encoded once or twice (a string-to-sign encodes the query).
var signedParam = regexp.MustCompile(`(?i)(Signature|SecurityToken|BearerToken|AccessKeySecret)(=|%3D|%253D)[^&\s"'<>]*?(&|%26|%2526|$|[\s"'<>])`)

// scrub removes secrets from text that came from the SDK or the server.
func (c *Client) scrub(s string) string {
	// SignatureDoesNotMatch messages end with the server's string to sign,
	// which holds the whole signed query.
	if i := strings.Index(strings.ToLower(s), "string to sign is:"); i >= 0 {
		s = s[:i] + "string to sign is: " + redacted
	}
	s = signedParam.ReplaceAllString(s, "$1$2"+redacted+"$3")
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
		if esc := url.QueryEscape(secret); esc != secret {
			s = strings.ReplaceAll(s, esc, redacted)
		}
	}
	return s
}
