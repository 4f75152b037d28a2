package cloud

import (
	"errors"
	"fmt"
	"strings"
)

// APIError is an error answer from the cloud API: a non-2xx HTTP status
// with a code. Errors compare equal (errors.Is) by code, so
// errors.Is(err, cloud.ErrThrottled) holds for any Throttling* code.
type APIError struct {
	Code       string
	HTTPStatus int
	RequestID  string
	Message    string
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = fmt.Sprintf("http %d", e.HTTPStatus)
	}
	msg := e.Message
	if len(msg) > 200 {
		// Cut on a rune boundary so the text stays valid UTF-8.
		msg = strings.ToValidUTF8(msg[:200], "") + "..."
	}
	if msg == "" {
		return code
	}
	return code + ": " + msg
}

// Is matches another *APIError by code. A target whose code ends in "*"
// matches every code with that prefix (ErrThrottled is "Throttling*").
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok || t.Code == "" {
		return false
	}
	if p, ok := strings.CutSuffix(t.Code, "*"); ok {
		return strings.HasPrefix(e.Code, p)
	}
	return e.Code == t.Code
}

// Sentinels to match with errors.Is. They carry only a code.
var (
	ErrThrottled            = &APIError{Code: "Throttling*"}
	ErrImageNotFound        = &APIError{Code: "InvalidImageId.NotFound"}
	ErrIncorrectImageStatus = &APIError{Code: "IncorrectImageStatus"}
	ErrNotFromCopy          = &APIError{Code: "ImageCreatedNotFromCopy"}
	ErrCancelNotSupported   = &APIError{Code: "CancelNotSupported"}
	ErrRegionNotFound       = &APIError{Code: "InvalidRegionId.NotFound"}
)

// TransportError is a failure to get an answer at all: connection refused,
// reset, dropped, TLS failure, or a timeout. Whether the request reached
// the API is unknown, which matters for a non-idempotent call.
type TransportError struct {
	Op      string // the API action, e.g. "CancelCopyImage"
	Timeout bool
	Err     error
}

func (e *TransportError) Error() string {
	cause := "<nil>"
	if e.Err != nil {
		cause = e.Err.Error()
	}
	if e.Timeout {
		return e.Op + ": timeout: " + cause
	}
	return e.Op + ": transport: " + cause
}

func (e *TransportError) Unwrap() error { return e.Err }

// ErrMalformedResponse wraps a 2xx answer whose body could not be parsed.
// The call may have taken effect, so the outcome is unknown.
var ErrMalformedResponse = errors.New("malformed response")
