package ecssim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParseRequest feeds arbitrary query strings, bodies and methods to the
// server. With sign set, the fuzzed parameters are signed correctly first,
// so the input reaches the actions instead of stopping at the signature
// check. Whatever comes in, the server must not panic, and every non-2xx
// answer must be a JSON object of strings with the documented fields.
func FuzzParseRequest(f *testing.F) {
	f.Add("Action=CancelCopyImage&RegionId=cn-hangzhou&ImageId=m-1", "", "POST", true)
	f.Add("Action=DescribeImages&RegionId=cn-hangzhou&Status=Waiting,Creating&PageSize=100&PageNumber=2", "", "POST", true)
	f.Add("Action=DescribeImages&RegionId=cn-hangzhou&Tag.1.Key=a&Tag.1.Value=b&Filter.1.Key=CreationStartTime&Filter.1.Value=2026-01-01T00:00Z", "", "GET", true)
	f.Add("Action=CopyImage&RegionId=cn-hangzhou&ImageId=m-src&DestinationRegionId=cn-beijing&DestinationImageName=x1&Tag.1.Key=k", "", "POST", true)
	f.Add("Action=CopyImage&RegionId=cn-hangzhou&ImageId=m-src&DestinationRegionId=cn-beijing", "Tag.1.Key=k", "POST", true)
	f.Add("a=%zz&&==&Action", "x=%", "POST", false)
	f.Add("Signature=abc&AccessKeyId=test-key", "", "DELETE", false)
	f.Fuzz(func(t *testing.T, query, body, method string, sign bool) {
		h := newHarness(t, Config{})
		h.s.AddImage(Image{Region: "cn-hangzhou", ID: "m-src"})
		h.s.AddImage(Image{Region: "cn-hangzhou", ID: "m-1", IsCopied: true})
		if sign {
			p, err := url.ParseQuery(query)
			if err != nil {
				return
			}
			params := map[string]string{"Version": APIVersion, "Format": "JSON"}
			for k, v := range p {
				params[k] = v[0]
			}
			delete(params, "Signature")
			delete(params, "Timestamp")
			SignParams(http.MethodPost, params, testKey, testSecret, "fuzz", h.clock.Now().Add(time.Second))
			q := url.Values{}
			for k, v := range params {
				q.Set(k, v)
			}
			query, method = q.Encode(), http.MethodPost
		}
		if !validMethod(method) {
			method = http.MethodPost
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Method = method
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.s.ServeHTTP(w, r)
		if w.Code >= 200 && w.Code < 300 {
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("success body is not JSON: %q", w.Body)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%d body is not a JSON object: %q", w.Code, w.Body)
		}
		for _, k := range errorFields {
			if _, ok := m[k].(string); !ok {
				t.Fatalf("%d body field %s is %T: %s", w.Code, k, m[k], w.Body)
			}
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				t.Fatalf("%d body field %s is %T: %s", w.Code, k, v, w.Body)
			}
		}
	})
}

// validMethod keeps fuzzed methods to tokens net/http would accept on the
// wire; others cannot reach a handler.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c < '!' || c > '~' || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}
