package ecs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/copyguard/copyguard/cloud"
)

const (
	testSecret = "s3cr3t-Value/+="
	testToken  = "CAIS-sts-token-xyz"
)

func testClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{Endpoint: "127.0.0.1:1", Insecure: true,
		AccessKeyID: "ak", AccessKeySecret: testSecret, SecurityToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// answer runs the SDK's own response parsing on a canned answer, under
// recoverSDK as a call does, and returns the response and the error.
func answer(t *testing.T, status int, body string, hdr http.Header) (responses.AcsResponse, error) {
	t.Helper()
	resp := ecs.CreateCancelCopyImageResponse()
	hr := &http.Response{StatusCode: status, Header: hdr, Body: io.NopCloser(strings.NewReader(body))}
	err := recoverSDK(func() error { return responses.Unmarshal(resp, hr, "JSON") })
	return resp, err
}

func TestMapServerError(t *testing.T) {
	c := testClient(t)
	tests := []struct {
		name   string
		status int
		body   string
		hdr    http.Header
		want   cloud.APIError
	}{
		{"json", 404, `{"RequestId":"r-1","HostId":"h","Code":"InvalidImageId.NotFound","Message":"The specified ImageId does not exist.","Recommend":"u"}`, nil,
			cloud.APIError{Code: "InvalidImageId.NotFound", HTTPStatus: 404, RequestID: "r-1", Message: "The specified ImageId does not exist."}},
		{"non-JSON 502", 502, "<html>Bad Gateway</html>", http.Header{"X-Acs-Request-Id": {"r-hdr"}},
			cloud.APIError{HTTPStatus: 502, RequestID: "r-hdr", Message: "<html>Bad Gateway</html>"}},
		{"numeric RequestId (SDK panics)", 400, `{"RequestId":12345,"Code":"Throttling.User","Message":"slow down"}`, nil,
			cloud.APIError{Code: "Throttling.User", HTTPStatus: 400, RequestID: "12345", Message: "slow down"}},
		{"numeric Code (SDK panics)", 500, `{"RequestId":"r-2","Code":500,"Message":{"a":1}}`, nil,
			cloud.APIError{Code: "500", HTTPStatus: 500, RequestID: "r-2", Message: `{"a":1}`}},
		{"AccessDeniedDetail not an object (SDK panics)", 403, `{"RequestId":"r-3","Code":"Forbidden.RAM","Message":"no","AccessDeniedDetail":"x"}`, nil,
			cloud.APIError{Code: "Forbidden.RAM", HTTPStatus: 403, RequestID: "r-3", Message: "no"}},
		{"signature mismatch message", 400, `{"RequestId":"r-4","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3Dak%26SecurityToken%3D` + testToken + `"}`, nil,
			cloud.APIError{Code: "SignatureDoesNotMatch", HTTPStatus: 400, RequestID: "r-4", Message: "Specified signature is not matched with our calculation. server string to sign is: [redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := answer(t, tt.status, tt.body, tt.hdr)
			if err == nil {
				t.Fatal("no error from the SDK")
			}
			got := c.mapError("CancelCopyImage", err, resp)
			var ae *cloud.APIError
			if !errors.As(got, &ae) {
				t.Fatalf("mapError = %T %v, want *cloud.APIError", got, got)
			}
			if *ae != tt.want {
				t.Errorf("mapError = %+v, want %+v", *ae, tt.want)
			}
		})
	}
}

func TestMapOtherErrors(t *testing.T) {
	c := testClient(t)
	signedURL := "https://ecs.cn-hangzhou.aliyuncs.com/?AccessKeyId=ak&Action=CancelCopyImage&SecurityToken=" +
		url.QueryEscape(testToken) + "&Signature=abc%2Bdef%3D&SignatureNonce=n"
	timeout := &url.Error{Op: "Post", URL: signedURL, Err: os.ErrDeadlineExceeded}
	refused := &url.Error{Op: "Post", URL: signedURL,
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name      string
		err       error
		transport bool
		timeout   bool
		malformed bool
	}{
		{"url timeout", timeout, true, true, false},
		{"url refused", refused, true, false, false},
		{"url EOF", &url.Error{Op: "Post", URL: signedURL, Err: io.EOF}, true, false, false},
		{"raw net error", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true, true, false},
		{"sdk timeout error", sdkerrors.NewClientError(sdkerrors.TimeoutErrorCode, "timed out", timeout), true, true, false},
		{"sdk json error", sdkerrors.NewClientError(sdkerrors.JsonUnmarshalErrorCode, sdkerrors.JsonUnmarshalErrorMessage, errors.New("expect { but found <")), false, false, true},
		{"sdk other client error", sdkerrors.NewClientError(sdkerrors.InvalidParamErrorCode, "bad "+testSecret, nil), false, false, false},
		{"plain error", errors.New("regionId contains invalid characters"), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.mapError("CancelCopyImage", tt.err, ecs.CreateCancelCopyImageResponse())
			var te *cloud.TransportError
			if isTE := errors.As(got, &te); isTE != tt.transport {
				t.Fatalf("mapError = %T %v, transport error %v, want %v", got, got, isTE, tt.transport)
			}
			if te != nil && (te.Timeout != tt.timeout || te.Op != "CancelCopyImage") {
				t.Errorf("TransportError = %+v, want Timeout %v", te, tt.timeout)
			}
			if m := errors.Is(got, cloud.ErrMalformedResponse); m != tt.malformed {
				t.Errorf("errors.Is(ErrMalformedResponse) = %v, want %v", m, tt.malformed)
			}
			msg := got.Error()
			for _, secret := range []string{testSecret, testToken, url.QueryEscape(testToken), "abc%2Bdef"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q", msg, secret)
				}
			}
		})
	}
}

func TestContextErrorsAreUnknownOutcome(t *testing.T) {
	c := testClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.CancelCopy(ctx, "cn-hangzhou", "m-1")
	var te *cloud.TransportError
	if !errors.As(err, &te) || !te.Timeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a timeout TransportError wrapping context.Canceled", err)
	}
	if class, _ := cloud.Classify(err); class != cloud.ClassRetryable || !cloud.OutcomeUnknown(err) {
		t.Errorf("Classify = %v, OutcomeUnknown = %v; want retryable and unknown", class, cloud.OutcomeUnknown(err))
	}
}

func TestScrub(t *testing.T) {
	c := testClient(t)
	tests := []struct{ in, want string }{
		{"Signature=abc&x=1", "Signature=[redacted]&x=1"},
		{"SecurityToken%3Dtok%26Timestamp", "SecurityToken%3D[redacted]%26Timestamp"},
		{"a SecurityToken%253Dtok%2526b", "a SecurityToken%253D[redacted]%2526b"},
		{"end Signature=xyz", "end Signature=[redacted]"},
		{"SignatureMethod=HMAC-SHA1&SignatureNonce=1", "SignatureMethod=HMAC-SHA1&SignatureNonce=1"},
		{"the secret is " + testSecret, "the secret is [redacted]"},
		{"escaped " + url.QueryEscape(testSecret), "escaped [redacted]"},
		{"x string to sign is: GET&%2F&AccessKeyId", "x string to sign is: [redacted]"},
	}
	for _, tt := range tests {
		if got := c.scrub(tt.in); got != tt.want {
			t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
