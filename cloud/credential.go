package cloud

import (
	"errors"
	"strings"
)

// credentialCodes are the API codes that say the fleet's credentials or
// their permissions are wrong, not the request or the copy (ecs-api.md §4
// and §5.2): every call in the region will fail the same way until an
// operator fixes the key or its policy. Codes starting with "Forbidden"
// and "InvalidSecurityToken" are matched by prefix.
var credentialCodes = map[string]bool{
	"InvalidAccessKeyId.NotFound": true,
	"InvalidAccessKeyId.Inactive": true,
	"InvalidAccessKeyId":          true,
	"InvalidAccessKeySecret":      true,
	"SignatureDoesNotMatch":       true,
	"NoPermission":                true,
}

// credentialPrefixes match whole families: Forbidden.RAM,
// Forbidden.AccessKeyDisabled, Forbidden.Unauthorized, Forbidden.RiskControl,
// plain Forbidden; the STS token errors (InvalidSecurityToken.Expired,
// .Malformed, .MismatchWithAccessKey).
var credentialPrefixes = []string{"Forbidden", "InvalidSecurityToken"}

// IsCredentialError reports whether err is an API answer of the
// credential or authorization kind: a bad, disabled or unauthorized access
// key, a wrong secret (SignatureDoesNotMatch), an expired STS token. Such
// an error is about the caller, never about the copy, so the worker's
// circuit breaker counts it and no copy's outcome is decided by it. It is
// always ClassPermanent for Classify; clock skew (InvalidTimeStamp.Expired)
// and request bugs (IncompleteSignature, MissingParameter) are not
// credential errors.
func IsCredentialError(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	if credentialCodes[e.Code] {
		return true
	}
	for _, p := range credentialPrefixes {
		if e.Code == p || strings.HasPrefix(e.Code, p+".") {
			return true
		}
	}
	return false
}
