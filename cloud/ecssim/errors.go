package ecssim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Error codes the simulator answers with. The HTTP status of each answer is
// fixed by the constructor that uses the code, mirroring ecs-api.md §1-§4.
const (
	CodeMissingParameter         = "MissingParameter"
	CodeInvalidParameter         = "InvalidParameter"
	CodeInvalidVersion           = "InvalidVersion"
	CodeInvalidAction            = "InvalidAction.NotFound"
	CodeUnsupportedHTTPMethod    = "UnsupportedHTTPMethod"
	CodeBodyTooLarge             = "RequestTooLarge"
	CodeAccessKeyNotFound        = "InvalidAccessKeyId.NotFound"
	CodeSignatureDoesNotMatch    = "SignatureDoesNotMatch"
	CodeSignatureNonceUsed       = "SignatureNonceUsed"
	CodeTimestampExpired         = "InvalidTimeStamp.Expired"
	CodeIllegalTimestamp         = "IllegalTimestamp"
	CodeInvalidRegion            = "InvalidRegionId.NotFound"
	CodeInvalidImage             = "InvalidImageId.NotFound"
	CodeIncorrectImageStatus     = "IncorrectImageStatus"
	CodeNotFromCopy              = "ImageCreatedNotFromCopy"
	CodeDestinationNotFound      = "DestinationRegion.NotFound"
	CodeIncorrectDestination     = "IncorrectDestinationRegion"
	CodeImageNameMalformed       = "InvalidImageName.Malformed"
	CodeDescriptionMalformed     = "InvalidDescription.Malformed"
	CodeEncryptedIllegal         = "InvalidParameter.EncryptedIllegal"
	CodeTagCount                 = "InvalidTagCount"
	CodeTagKeyMalformed          = "InvalidTagKey.Malformed"
	CodeOwnerAliasNotSupported   = "InvalidImageOwnerAlias.ValueNotSupported"
	CodeFilterKeyNotFound        = "InvalidFilterKey.NotFound"
	CodeThrottling               = "Throttling.User"
	CodeInternalError            = "InternalError"
	CodeServiceUnavailable       = "ServiceUnavailable"
	signatureMismatchMessageHead = "Specified signature is not matched with our calculation. server string to sign is:"
)

// apiError is an answer that is not a success. Keeping status and code
// together means no handler can pick a code without also picking a status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func missing(name string) *apiError {
	return errorf(http.StatusBadRequest, CodeMissingParameter,
		"The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

func invalid(name string) *apiError {
	return errorf(http.StatusBadRequest, CodeInvalidParameter,
		"The specified parameter %q is not valid.", name)
}

func regionNotFound() *apiError {
	return errorf(http.StatusNotFound, CodeInvalidRegion, "The specified RegionId does not exist.")
}

func imageNotFound() *apiError {
	return errorf(http.StatusNotFound, CodeInvalidImage, "The specified ImageId does not exist.")
}

// errorBody is the documented error shape. Every field is a string because
// the SDK type-asserts each one to string and panics otherwise.
type errorBody struct {
	RequestId string
	HostId    string
	Code      string
	Message   string
	Recommend string
}

func hostID(region string) string {
	if region == "" {
		return "ecs.aliyuncs.com"
	}
	return "ecs." + region + ".aliyuncs.com"
}

func writeError(w http.ResponseWriter, reqID, region string, e *apiError) {
	writeJSON(w, e.Status, reqID, errorBody{
		RequestId: reqID,
		HostId:    hostID(region),
		Code:      e.Code,
		Message:   e.Message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.Code) +
			"&product=Ecs&requestId=" + reqID,
	})
}

func writeJSON(w http.ResponseWriter, status int, reqID string, body any) {
	b, err := marshal(body)
	if err != nil {
		// Only our own response structs reach here; a failure is a bug, and
		// the answer must still be a string-valued JSON error.
		status = http.StatusInternalServerError
		b, _ = marshal(errorBody{RequestId: reqID, HostId: hostID(""), Code: CodeInternalError,
			Message: "encode response: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("x-acs-request-id", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeRaw answers with a body as given: usually HTML, as a load balancer in
// front of the API sends when the service behind it is down, or hand-made
// JSON that the typed answers cannot express (a numeric RequestId, say).
func writeRaw(w http.ResponseWriter, status int, body string) {
	ct := "text/html"
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		ct = "application/json;charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// marshal encodes without HTML escaping, so a Recommend URL reads "&" as the
// real service writes it rather than "\u0026".
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
