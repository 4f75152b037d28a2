package cloud

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

func api(status int, code, msg string) *APIError {
	return &APIError{Code: code, HTTPStatus: status, RequestID: "req-1", Message: msg}
}

func urlErr(err error) *url.Error {
	return &url.Error{Op: "Post", URL: "https://ecs.cn-hangzhou.aliyuncs.com/", Err: err}
}

// timeoutErr is a net.Error that timed out, like the one net/http returns
// when http.Client.Timeout fires.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

type classifyCase struct {
	name    string
	err     error
	class   Class
	outcome Outcome
	unknown bool // OutcomeUnknown(err)
}

func retry(name string, err error, unknown bool) classifyCase {
	return classifyCase{name: name, err: err, class: ClassRetryable, unknown: unknown}
}

func outcome(name string, err error, o Outcome) classifyCase {
	return classifyCase{name: name, err: err, class: ClassOutcome, outcome: o}
}

func permanent(name string, err error) classifyCase {
	return classifyCase{name: name, err: err, class: ClassPermanent}
}

// cancelCases are the CancelCopyImage codes of ecs-api.md §1 (every doc
// version, both HTTP statuses where the versions disagree).
var cancelCases = []classifyCase{
	permanent("cancel/404 InvalidRegionId.NotFound", api(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")),
	permanent("cancel/400 InvalidRegionId.NotFound (2016 docs)", api(400, "InvalidRegionId.NotFound", "The source region not found.")),
	outcome("cancel/404 InvalidImageId.NotFound", api(404, "InvalidImageId.NotFound", "The specified ImageId does not exist."), OutcomeAlreadyGone),
	outcome("cancel/400 InvalidImageId.NotFound (2016 docs)", api(400, "InvalidImageId.NotFound", "The specified ImageId does not exist."), OutcomeAlreadyGone),
	outcome("cancel/400 ImageCreatedNotFromCopy", api(400, "ImageCreatedNotFromCopy", "The specified image is not the target image of a copy action."), OutcomeNotCancellable),
	outcome("cancel/400 IncorrectImageStatus copied finished", api(400, "IncorrectImageStatus", "The image is copied finished."), OutcomeCompleted),
	outcome("cancel/400 IncorrectImageStatus completed copy", api(400, "IncorrectImageStatus", "The image has completed copy."), OutcomeCompleted),
	outcome("cancel/400 IncorrectImageStatus copy failed", api(400, "IncorrectImageStatus", "The Image copy has been failed."), OutcomeNotCancellable),
	outcome("cancel/400 IncorrectImageStatus image not coping", api(400, "IncorrectImageStatus", "The specified image is not coping."), OutcomeCompleted),
	outcome("cancel/400 IncorrectImageStatus snapshot not coping", api(400, "IncorrectImageStatus", "The specified snapshot is not coping."), OutcomeCompleted),
	outcome("cancel/400 IncorrectImageStatus not from copied (2016 docs)", api(400, "IncorrectImageStatus", "The image is not from copied."), OutcomeNotCancellable),
	outcome("cancel/400 IncorrectImageStatus no message", api(400, "IncorrectImageStatus", ""), OutcomeCompleted),
	outcome("cancel/400 CancelNotSupported", api(400, "CancelNotSupported", "The specified image coping can not be cancelled."), OutcomeNotCancellable),
	permanent("cancel/400 InvalidDescription.Malformed", api(400, "InvalidDescription.Malformed", "The specified description is wrongly formed.")),
	permanent("cancel/400 MissingParameter", api(400, "MissingParameter", "input parameter ImageId that is mandatory for processing this request is not supplied.")),
	retry("cancel/500 InternalError", api(500, "InternalError", "The request processing has failed due to some unknown error."), true),
}

// commonCases are the common ECS and gateway codes of ecs-api.md §4.
var commonCases = []classifyCase{
	retry("common/400 Throttling", api(400, "Throttling", "Request was denied due to request throttling."), false),
	retry("common/403 Throttling", api(403, "Throttling", "Request was denied due to request throttling."), false),
	retry("common/429 Throttling", api(429, "Throttling", "Request was denied due to request throttling."), false),
	retry("common/400 Throttling.User", api(400, "Throttling.User", "Request was denied due to user flow control."), false),
	retry("common/400 Throttling.Api", api(400, "Throttling.Api", "Request was denied due to api flow control."), false),
	retry("common/400 Rejected.Throttling", api(400, "Rejected.Throttling", ""), false),
	retry("common/500 InternalError", api(500, "InternalError", ""), true),
	retry("common/400 UnknownError", api(400, "UnknownError", "The request processing has failed due to some unknown error."), true),
	retry("common/503 ServiceUnavailable", api(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."), true),
	retry("common/503 ServiceUnavailable.RegionMaintaining", api(503, "ServiceUnavailable.RegionMaintaining", ""), true),
	retry("common/409 OperationConflict", api(409, "OperationConflict", ""), false),
	retry("common/403 LastTokenProcessing", api(403, "LastTokenProcessing", ""), false),
	permanent("common/400 SignatureDoesNotMatch", api(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")),
	permanent("common/400 IncompleteSignature", api(400, "IncompleteSignature", "")),
	permanent("common/400 SignatureNonceUsed", api(400, "SignatureNonceUsed", "")),
	permanent("common/400 InvalidTimeStamp.Expired", api(400, "InvalidTimeStamp.Expired", "")),
	permanent("common/400 IllegalTimestamp", api(400, "IllegalTimestamp", "")),
	permanent("common/400 MissingParameter", api(400, "MissingParameter", "")),
	permanent("common/400 InvalidParameter", api(400, "InvalidParameter", "")),
	permanent("common/400 UnsupportedParameter", api(400, "UnsupportedParameter", "")),
	permanent("common/400 IdempotentParameterMismatch", api(400, "IdempotentParameterMismatch", "")),
	permanent("common/400 InvalidAccessKeyId.NotFound", api(400, "InvalidAccessKeyId.NotFound", "")),
	permanent("common/404 InvalidAccessKeyId.NotFound", api(404, "InvalidAccessKeyId.NotFound", "")),
	permanent("common/403 Forbidden.RAM", api(403, "Forbidden.RAM", "User not authorized to operate on the specified resource.")),
	permanent("common/403 Forbidden.AccessKeyDisabled", api(403, "Forbidden.AccessKeyDisabled", "")),
	permanent("common/403 Forbidden.Unauthorized", api(403, "Forbidden.Unauthorized", "")),
	permanent("common/403 Forbidden.RiskControl", api(403, "Forbidden.RiskControl", "")),
	permanent("common/403 InvalidAction", api(403, "InvalidAction", "")),
	permanent("common/403 RealNameAuthenticationError", api(403, "RealNameAuthenticationError", "")),
	permanent("common/403 UnsupportedHTTPMethod", api(403, "UnsupportedHTTPMethod", "")),
	permanent("common/404 InvalidRegionId.NotFound", api(404, "InvalidRegionId.NotFound", "")),
	outcome("common/404 InvalidImageId.NotFound", api(404, "InvalidImageId.NotFound", ""), OutcomeAlreadyGone),
}

// copyCases are the CopyImage codes of ecs-api.md §2 that CancelCopyImage
// does not share. InvalidImageId.NotFound and IncorrectImageStatus mean
// something else for CopyImage (the source image); Classify reads them
// the CancelCopyImage way, so they are only in cancelCases.
var copyCases = []classifyCase{
	permanent("copy/401 InvalidAliUid.IsNull", api(401, "InvalidAliUid.IsNull", "")),
	permanent("copy/400 InvalidImageName.Malformed", api(400, "InvalidImageName.Malformed", "")),
	permanent("copy/400 SourceRegion.NotFound", api(400, "SourceRegion.NotFound", "")),
	permanent("copy/400 DestinationRegion.NotFound", api(400, "DestinationRegion.NotFound", "")),
	permanent("copy/400 InvalidSnapshotId.NotFound", api(400, "InvalidSnapshotId.NotFound", "")),
	permanent("copy/400 InvalidImageName.Duplicated", api(400, "InvalidImageName.Duplicated", "The destination image is exist.")),
	permanent("copy/403 Forbbiden", api(403, "Forbbiden", "")),
	permanent("copy/403 QuotaExceed.Image", api(403, "QuotaExceed.Image", "")),
	permanent("copy/403 QuotaExceed.Snapshot", api(403, "QuotaExceed.Snapshot", "")),
	retry("copy/403 OperationDenied.ImageCopying", api(403, "OperationDenied.ImageCopying", "The Image are coping."), false),
	permanent("copy/403 RegionNotSupportCopy", api(403, "RegionNotSupportCopy", "")),
	permanent("copy/403 InvalidSnapshot.TooOld", api(403, "InvalidSnapshot.TooOld", "")),
	permanent("copy/403 OperationDenied", api(403, "OperationDenied", "")),
	permanent("copy/403 IncorrectDestinationRegion", api(403, "IncorrectDestinationRegion", "")),
	permanent("copy/403 SizeExceed.Image", api(403, "SizeExceed.Image", "")),
	permanent("copy/403 OperationDeined.EncryptedSnapshot", api(403, "OperationDeined.EncryptedSnapshot", "")),
	permanent("copy/403 OperationDenied.SameRegionOnly", api(403, "OperationDenied.SameRegionOnly", "")),
	permanent("copy/403 OperationDenied.NotPublished", api(403, "OperationDenied.NotPublished", "")),
	permanent("copy/403 InvalidParameter.KMSKeyId.CMKNotEnabled", api(403, "InvalidParameter.KMSKeyId.CMKNotEnabled", "")),
	permanent("copy/404 InvalidParameter.KMSKeyId.NotFound", api(404, "InvalidParameter.KMSKeyId.NotFound", "")),
	permanent("copy/403 InvalidParameter.KMSKeyId.KMSUnauthorized", api(403, "InvalidParameter.KMSKeyId.KMSUnauthorized", "")),
	permanent("copy/403 InvalidRegion.NotSupport", api(403, "InvalidRegion.NotSupport", "")),
	permanent("copy/403 UserNotInTheWhiteList", api(403, "UserNotInTheWhiteList", "")),
	permanent("copy/400 InvalidParameter.EncryptedIllegal", api(400, "InvalidParameter.EncryptedIllegal", "")),
	retry("copy/403 InternalError", api(403, "InternalError", ""), true),
	retry("copy/500 InternalError", api(500, "InternalError", ""), true),
}

// describeCases are the DescribeImages codes of ecs-api.md §3.
var describeCases = []classifyCase{
	permanent("describe/400 InvalidImageOwnerAlias.ValueNotSupported", api(400, "InvalidImageOwnerAlias.ValueNotSupported", "")),
	permanent("describe/400 InvalidParamter", api(400, "InvalidParamter", "")),
	permanent("describe/404 InvalidFilterKey.NotFound", api(404, "InvalidFilterKey.NotFound", "")),
	permanent("describe/404 InvalidUsage", api(404, "InvalidUsage", "")),
	permanent("describe/400 InvalidTag.Mismatch", api(400, "InvalidTag.Mismatch", "")),
	permanent("describe/400 InvalidTagCount", api(400, "InvalidTagCount", "")),
	permanent("describe/400 InvalidInstanceType.ValueNotSupported", api(400, "InvalidInstanceType.ValueNotSupported", "")),
	permanent("describe/404 InvalidOSType", api(404, "InvalidOSType", "")),
	permanent("describe/404 InvalidArchitecture", api(404, "InvalidArchitecture", "")),
	retry("describe/500 InternalError", api(500, "InternalError", ""), true),
}

// otherCases are answers without a documented code, and failures to get
// an answer at all.
var otherCases = []classifyCase{
	{name: "nil", err: nil, class: ClassNone},
	retry("non-JSON 502 (Code empty)", api(502, "", "<html><body>502 Bad Gateway</body></html>"), true),
	retry("non-JSON 504 (Code empty)", api(504, "", "upstream timed out"), true),
	retry("unknown 5xx code", api(500, "SomethingNew", ""), true),
	retry("429 without a code", api(429, "", "Too Many Requests"), false),
	permanent("403 without a code (proxy page)", api(403, "", "<html>Forbidden</html>")),
	permanent("unknown 4xx code", api(400, "SomethingNew", "")),
	permanent("zero APIError", &APIError{}),
	outcome("wrapped APIError", fmt.Errorf("cancel copy m-1 in cn-hangzhou: %w", api(404, "InvalidImageId.NotFound", "")), OutcomeAlreadyGone),
	retry("2xx that does not parse", fmt.Errorf("%w: readObjectStart: expect { or n, but found <", ErrMalformedResponse), true),
	retry("wrapped malformed 2xx", fmt.Errorf("cancel copy m-1 in cn-hangzhou: %w", fmt.Errorf("%w: eof", ErrMalformedResponse)), true),
	retry("transport: connection refused in url.Error", &TransportError{Op: "CancelCopyImage",
		Err: urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})}, true),
	retry("transport: connection reset", &TransportError{Op: "CancelCopyImage",
		Err: urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})}, true),
	retry("transport: EOF (dropped connection)", &TransportError{Op: "CancelCopyImage", Err: urlErr(errors.New("EOF"))}, true),
	retry("transport: timeout", &TransportError{Op: "CancelCopyImage", Timeout: true, Err: urlErr(timeoutErr{})}, true),
	retry("transport: ctx deadline", &TransportError{Op: "CancelCopyImage", Timeout: true, Err: context.DeadlineExceeded}, true),
	retry("transport: ctx cancelled", &TransportError{Op: "CancelCopyImage", Timeout: true, Err: context.Canceled}, true),
	retry("transport: nil cause", &TransportError{Op: "CancelCopyImage"}, true),
	retry("transport: x509 unknown authority", &TransportError{Op: "CancelCopyImage",
		Err: urlErr(x509.UnknownAuthorityError{})}, true),
	retry("raw url.Error", urlErr(errors.New("EOF")), true),
	retry("raw url.Error timeout", urlErr(timeoutErr{}), true),
	retry("raw net.OpError", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true),
	retry("raw DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "ecs.cn-hangzhou.aliyuncs.com", IsTimeout: true}, true),
	retry("os.ErrDeadlineExceeded", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true),
	retry("context.DeadlineExceeded", context.DeadlineExceeded, true),
	retry("wrapped context.DeadlineExceeded", fmt.Errorf("cancel copy m-1 in cn-hangzhou: %w", context.DeadlineExceeded), true),
	retry("context.Canceled", context.Canceled, true),
	permanent("plain error", errors.New("regionId contains invalid characters")),
	permanent("sdk client error text", errors.New("[SDK.InvalidParam] bad")),
}

func allCases() []classifyCase {
	var all []classifyCase
	for _, cs := range [][]classifyCase{cancelCases, commonCases, copyCases, describeCases, otherCases} {
		all = append(all, cs...)
	}
	return all
}

func TestClassify(t *testing.T) {
	for _, tt := range allCases() {
		t.Run(tt.name, func(t *testing.T) {
			class, out := Classify(tt.err)
			if class != tt.class || out != tt.outcome {
				t.Errorf("Classify(%v) = (%v, %q), want (%v, %q)", tt.err, class, out, tt.class, tt.outcome)
			}
			if got := OutcomeUnknown(tt.err); got != tt.unknown {
				t.Errorf("OutcomeUnknown(%v) = %v, want %v", tt.err, got, tt.unknown)
			}
		})
	}
}

func TestClassifyTableHasNoDuplicateNames(t *testing.T) {
	seen := map[string]bool{}
	for _, tt := range allCases() {
		if seen[tt.name] {
			t.Errorf("duplicate row %q", tt.name)
		}
		seen[tt.name] = true
	}
}

func TestErrThrottled(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"Throttling", true},
		{"Throttling.User", true},
		{"Throttling.Api", true},
		{"Rejected.Throttling", false}, // retryable, but not a Throttling* code
		{"ServiceUnavailable", false},
		{"InternalError", false},
		{"", false},
		{"throttling", false}, // codes are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := fmt.Errorf("cancel copy m-1 in cn-hangzhou: %w", api(400, tt.code, "x"))
			if got := errors.Is(err, ErrThrottled); got != tt.want {
				t.Errorf("errors.Is(%q, ErrThrottled) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestSentinelsMatchByCode(t *testing.T) {
	tests := []struct {
		sentinel *APIError
		err      error
		want     bool
	}{
		{ErrImageNotFound, api(404, "InvalidImageId.NotFound", "m"), true},
		{ErrImageNotFound, api(404, "InvalidRegionId.NotFound", "m"), false},
		{ErrIncorrectImageStatus, api(400, "IncorrectImageStatus", "m"), true},
		{ErrNotFromCopy, api(400, "ImageCreatedNotFromCopy", "m"), true},
		{ErrCancelNotSupported, api(400, "CancelNotSupported", "m"), true},
		{ErrRegionNotFound, api(404, "InvalidRegionId.NotFound", "m"), true},
		{ErrRegionNotFound, errors.New("InvalidRegionId.NotFound"), false},
		{&APIError{}, api(400, "", "m"), false}, // an empty code matches nothing
	}
	for _, tt := range tests {
		t.Run(tt.sentinel.Code+"/"+tt.err.Error(), func(t *testing.T) {
			if got := errors.Is(tt.err, tt.sentinel); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.sentinel, got, tt.want)
			}
		})
	}
}

func TestErrorStrings(t *testing.T) {
	long := string(make([]byte, 199)) + "é" + "tail" // the cut falls inside é
	tests := []struct {
		err  error
		want string
	}{
		{api(404, "InvalidImageId.NotFound", "The specified ImageId does not exist."), "InvalidImageId.NotFound: The specified ImageId does not exist."},
		{api(502, "", ""), "http 502"},
		{api(400, "Throttling", ""), "Throttling"},
		{api(400, "X", long), "X: " + string(make([]byte, 199)) + "..."},
		{&TransportError{Op: "CancelCopyImage", Timeout: true, Err: context.DeadlineExceeded}, "CancelCopyImage: timeout: context deadline exceeded"},
		{&TransportError{Op: "CancelCopyImage", Err: errors.New("EOF")}, "CancelCopyImage: transport: EOF"},
		{&TransportError{Op: "CancelCopyImage"}, "CancelCopyImage: transport: <nil>"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{
		ClassNone: "none", ClassRetryable: "retryable", ClassOutcome: "outcome",
		ClassPermanent: "permanent", Class(9): "Class(9)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(c), got, want)
		}
	}
}

func TestOutcomeValid(t *testing.T) {
	for _, o := range Outcomes {
		if !o.Valid() {
			t.Errorf("%q not valid", o)
		}
	}
	if Outcome("").Valid() || Outcome("gone").Valid() {
		t.Error("unknown outcome reported valid")
	}
}
