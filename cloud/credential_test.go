package cloud

import (
	"context"
	"fmt"
	"testing"
)

func TestIsCredentialError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"InvalidAccessKeyId.NotFound", api(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."), true},
		{"InvalidAccessKeyId.NotFound as 400", api(400, "InvalidAccessKeyId.NotFound", "Specified access key is not found."), true},
		{"InvalidAccessKeyId.Inactive", api(400, "InvalidAccessKeyId.Inactive", "Specified access key is disabled."), true},
		{"InvalidAccessKeySecret", api(400, "InvalidAccessKeySecret", ""), true},
		{"SignatureDoesNotMatch", api(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."), true},
		{"Forbidden", api(403, "Forbidden", "User not authorized to operate on the specified resource."), true},
		{"Forbidden.RAM", api(403, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM."), true},
		{"Forbidden.AccessKeyDisabled", api(403, "Forbidden.AccessKeyDisabled", "The Accesskey is disabled."), true},
		{"Forbidden.Unauthorized", api(403, "Forbidden.Unauthorized", ""), true},
		{"Forbidden.RiskControl", api(403, "Forbidden.RiskControl", ""), true},
		{"InvalidSecurityToken.Expired", api(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."), true},
		{"InvalidSecurityToken.MismatchWithAccessKey", api(400, "InvalidSecurityToken.MismatchWithAccessKey", ""), true},
		{"NoPermission", api(403, "NoPermission", ""), true},
		{"wrapped", fmt.Errorf("cancel copy m-1 in cn-hangzhou: %w", api(404, "InvalidAccessKeyId.NotFound", "")), true},

		{"nil", nil, false},
		{"ForbiddenX is not the family", api(403, "ForbiddenX", ""), false},
		{"IncompleteSignature is a request bug", api(400, "IncompleteSignature", ""), false},
		{"SignatureNonceUsed", api(400, "SignatureNonceUsed", ""), false},
		{"clock skew", api(400, "InvalidTimeStamp.Expired", ""), false},
		{"IllegalTimestamp", api(400, "IllegalTimestamp", ""), false},
		{"InvalidRegionId.NotFound", api(404, "InvalidRegionId.NotFound", ""), false},
		{"InvalidImageId.NotFound", api(404, "InvalidImageId.NotFound", ""), false},
		{"InvalidAction", api(404, "InvalidAction.NotFound", ""), false},
		{"MissingParameter", api(400, "MissingParameter", ""), false},
		{"Throttling", api(400, "Throttling.User", ""), false},
		{"InternalError", api(500, "InternalError", ""), false},
		{"HTTP 403 without a code", api(403, "", "<html>forbidden</html>"), false},
		{"transport", &TransportError{Op: "CancelCopyImage", Err: fmt.Errorf("connection refused")}, false},
		{"context", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsCredentialError(tt.err); got != tt.want {
				t.Errorf("IsCredentialError(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if tt.want {
				// The breaker relies on it: a credential error is never
				// retried and never an outcome.
				if c, _ := Classify(tt.err); c != ClassPermanent {
					t.Errorf("Classify = %v, want permanent", c)
				}
			}
		})
	}
}
