package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Class says what the caller should do with an error.
type Class int

const (
	// ClassNone is the class of a nil error: the call succeeded.
	ClassNone Class = iota
	// ClassRetryable: try again after a backoff.
	ClassRetryable
	// ClassOutcome: the call failed, but the answer settles what happened to
	// the copy; see the Outcome returned with it.
	ClassOutcome
	// ClassPermanent: retrying cannot help (auth, signature, bad parameters).
	ClassPermanent
)

func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassRetryable:
		return "retryable"
	case ClassOutcome:
		return "outcome"
	case ClassPermanent:
		return "permanent"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Outcome is what finally happened to a decided copy (SPEC §5).
type Outcome string

const (
	OutcomeCancelled      Outcome = "cancelled"
	OutcomeAlreadyGone    Outcome = "already_gone"
	OutcomeCompleted      Outcome = "completed"
	OutcomeNotCancellable Outcome = "not_cancellable"
	OutcomeProtected      Outcome = "protected"
	OutcomeHeld           Outcome = "held"
	OutcomePlanned        Outcome = "planned"
	// OutcomeSkipped: a re-check just before the cancel showed the copy
	// no longer matches (SPEC §11); no call was made.
	OutcomeSkipped Outcome = "skipped"
	OutcomeFailed  Outcome = "failed"
)

// Outcomes lists every outcome, in the order of SPEC §5.
var Outcomes = []Outcome{
	OutcomeCancelled, OutcomeAlreadyGone, OutcomeCompleted, OutcomeNotCancellable,
	OutcomeProtected, OutcomeHeld, OutcomePlanned, OutcomeSkipped, OutcomeFailed,
}

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool {
	for _, v := range Outcomes {
		if o == v {
			return true
		}
	}
	return false
}

// retryableCodes are API codes worth another try after a backoff. Codes
// starting with "Throttling" are matched by prefix.
var retryableCodes = map[string]bool{
	"Rejected.Throttling":                  true,
	"ServiceUnavailable":                   true,
	"ServiceUnavailable.RegionMaintaining": true,
	"InternalError":                        true,
	"UnknownError":                         true,
	"OperationConflict":                    true,
	"LastTokenProcessing":                  true,
	// CopyImage: the source image is being copied right now; the docs say
	// to retry later.
	"OperationDenied.ImageCopying": true,
}

// unknownCodes are API codes that say the server failed in a way that
// leaves the effect of the call unknown, whatever the HTTP status (the
// CopyImage docs list InternalError under 403 as well as 500).
var unknownCodes = map[string]bool{
	"InternalError": true,
	"UnknownError":  true,
}

// Classify decides, from the error value alone, what a CancelCopyImage
// error means. The Outcome is set only for ClassOutcome.
//
// The rules (ecs-api.md §1 and §4):
//   - Throttling*, Rejected.Throttling, ServiceUnavailable*, InternalError,
//     UnknownError, OperationConflict, LastTokenProcessing,
//     OperationDenied.ImageCopying (CopyImage), any 5xx, a 429, transport
//     errors, timeouts, an ended context and unparseable answers are
//     retryable;
//   - InvalidImageId.NotFound is already_gone; IncorrectImageStatus is
//     completed, or not_cancellable when the message says the copy failed
//     or the image is not a copy;
//     CancelNotSupported and ImageCreatedNotFromCopy are not_cancellable;
//   - everything else (auth, signature, bad region, bad parameters, an
//     unknown 4xx code) is permanent.
func Classify(err error) (Class, Outcome) {
	if err == nil {
		return ClassNone, ""
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return classifyAPI(apiErr)
	}
	var te *TransportError
	if errors.As(err, &te) {
		return ClassRetryable, ""
	}
	// A context that ended mid-call says nothing about the request itself:
	// it may or may not have reached the API, and trying again later can
	// work, so a cancelled context is retryable like a deadline.
	if errors.Is(err, ErrMalformedResponse) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return ClassRetryable, ""
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ClassRetryable, ""
	}
	return ClassPermanent, ""
}

func classifyAPI(e *APIError) (Class, Outcome) {
	switch {
	case strings.HasPrefix(e.Code, "Throttling") || retryableCodes[e.Code]:
		return ClassRetryable, ""
	case e.Code == "InvalidImageId.NotFound":
		return ClassOutcome, OutcomeAlreadyGone
	case e.Code == "IncorrectImageStatus":
		// "The Image copy has been failed." and (2016/2017 docs) "The
		// image is not from copied." will not change; the other messages
		// ("copied finished", "has completed copy", "not coping") mean
		// the copy is over.
		msg := strings.ToLower(e.Message)
		if strings.Contains(msg, "fail") || strings.Contains(msg, "not from cop") {
			return ClassOutcome, OutcomeNotCancellable
		}
		return ClassOutcome, OutcomeCompleted
	case e.Code == "CancelNotSupported", e.Code == "ImageCreatedNotFromCopy":
		return ClassOutcome, OutcomeNotCancellable
	case e.HTTPStatus >= 500, e.HTTPStatus == 429:
		// A 5xx with an unknown code, or with no code at all (an HTML page
		// from a proxy), is the server's trouble, not the request's; a 429
		// is throttling whatever the body says.
		return ClassRetryable, ""
	}
	return ClassPermanent, ""
}

// OutcomeUnknown reports whether a failed call may nevertheless have taken
// effect: the request may have reached the API and been carried out
// (timeouts, dropped connections, an ended context, 5xx, InternalError or
// UnknownError with any status, an unparseable 2xx). After such an
// error a repeated cancel that answers InvalidImageId.NotFound means the
// earlier call cancelled the copy.
func OutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatus >= 500 || unknownCodes[apiErr.Code]
	}
	c, _ := Classify(err)
	return c == ClassRetryable
}
