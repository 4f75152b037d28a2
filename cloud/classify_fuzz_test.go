package cloud

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// fuzzError builds an error of one of several shapes from fuzz input, so
// the fuzzer explores codes, statuses and messages inside each shape.
func fuzzError(kind uint8, code string, status int, msg string) error {
	switch kind % 9 {
	case 0:
		return nil
	case 1:
		return &APIError{Code: code, HTTPStatus: status, Message: msg}
	case 2:
		return fmt.Errorf("cancel copy m-1 in cn-hangzhou: %w", &APIError{Code: code, HTTPStatus: status, Message: msg})
	case 3:
		return &TransportError{Op: code, Timeout: status%2 == 0, Err: errors.New(msg)}
	case 4:
		return &TransportError{Op: code} // a nil cause must not panic
	case 5:
		return fmt.Errorf("%w: %s", ErrMalformedResponse, msg)
	case 6:
		return fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	case 7:
		return errors.Join(errors.New(msg), &APIError{Code: code, HTTPStatus: status})
	default:
		return errors.New(msg)
	}
}

func FuzzClassify(f *testing.F) {
	for i, tt := range allCases() {
		var e *APIError
		if errors.As(tt.err, &e) {
			f.Add(uint8(1+i%2), e.Code, e.HTTPStatus, e.Message)
		}
	}
	f.Add(uint8(0), "", 0, "")
	f.Add(uint8(3), "CancelCopyImage", 0, "EOF")
	f.Add(uint8(4), "CancelCopyImage", 1, "")
	f.Add(uint8(5), "", 200, "<html>")
	f.Add(uint8(6), "", 0, "cancel")
	f.Add(uint8(7), "Throttling.User", 400, "joined")
	f.Add(uint8(8), "", 0, "plain")
	f.Add(uint8(1), "Throttling*", -1, "\xff\xfe")

	f.Fuzz(func(t *testing.T, kind uint8, code string, status int, msg string) {
		err := fuzzError(kind, code, status, msg)
		class, out := Classify(err)
		switch class {
		case ClassNone, ClassRetryable, ClassOutcome, ClassPermanent:
		default:
			t.Fatalf("Classify(%v) class = %v, not one of the four", err, class)
		}
		if (class == ClassOutcome) != (out != "") {
			t.Fatalf("Classify(%v) = (%v, %q): outcome must be set iff class is outcome", err, class, out)
		}
		if out != "" && !out.Valid() {
			t.Fatalf("Classify(%v) outcome %q is not valid", err, out)
		}
		if (err == nil) != (class == ClassNone) {
			t.Fatalf("Classify(%v) = %v: ClassNone iff nil", err, class)
		}
		unknown := OutcomeUnknown(err)
		if err == nil && unknown {
			t.Fatal("OutcomeUnknown(nil) = true")
		}
		if err != nil {
			_ = err.Error() // must not panic
		}
		// Classify must not depend on the wrapping.
		if err != nil {
			wc, wo := Classify(fmt.Errorf("wrapped: %w", err))
			if wc != class || wo != out {
				t.Fatalf("wrapping changed the class: (%v, %q) vs (%v, %q)", wc, wo, class, out)
			}
		}
	})
}
