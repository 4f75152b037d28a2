package ecssim

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxClockSkew is how far a request's Timestamp may be from the server clock,
// as the real gateway enforces (InvalidTimeStamp.Expired beyond it).
const MaxClockSkew = 15 * time.Minute

// signedParams are the common parameters every signed RPC request carries; a
// missing one is answered with MissingParameter before anything else is
// checked. Format is not among them because the real API defaults it to XML.
var signedParams = []string{"Action", "Version", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
	"SignatureNonce", "Timestamp"}

// StringToSign builds the RPC v1.0 string to sign from every parameter except
// Signature, empty ones included. It follows the SDK byte for byte
// (sdk/auth/rpc_signature_composer.go): url.Values.Encode sorts and escapes,
// then '+', '*' and "%7E" are fixed up to RFC 3986, then the whole canonical
// string is query-escaped again.
func StringToSign(method string, params map[string]string) string {
	v := make(url.Values, len(params))
	for k, val := range params {
		if k == "Signature" {
			continue
		}
		v.Set(k, val)
	}
	canon := v.Encode()
	canon = strings.ReplaceAll(canon, "+", "%20")
	canon = strings.ReplaceAll(canon, "*", "%2A")
	canon = strings.ReplaceAll(canon, "%7E", "~")
	return method + "&%2F&" + url.QueryEscape(canon)
}

// Sign returns Base64(HMAC-SHA1(secret+"&", stringToSign)).
func Sign(stringToSign, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignParams adds the common signature parameters for accessKeyID and a
// Signature over all of params, so tests and tools can talk to the simulator
// without the SDK. It overwrites Timestamp only when params has none.
func SignParams(method string, params map[string]string, accessKeyID, secret, nonce string, now time.Time) {
	params["AccessKeyId"] = accessKeyID
	params["SignatureMethod"] = "HMAC-SHA1"
	params["SignatureVersion"] = "1.0"
	params["SignatureNonce"] = nonce
	if _, ok := params["SignatureType"]; !ok {
		params["SignatureType"] = ""
	}
	if _, ok := params["Timestamp"]; !ok {
		params["Timestamp"] = now.UTC().Format("2006-01-02T15:04:05Z")
	}
	params["Signature"] = Sign(StringToSign(method, params), secret)
}

// verify checks what the gateway checks before any API code runs, in the
// gateway's order: presence, key, clock skew, signature, then nonce reuse.
// The nonce is recorded only for a valid signature so that a forged request
// cannot burn a legitimate client's nonce.
func (s *Server) verify(method string, p map[string]string) *apiError {
	for _, k := range signedParams {
		if p[k] == "" {
			return missing(k)
		}
	}
	if p["SignatureMethod"] != "HMAC-SHA1" {
		return invalid("SignatureMethod")
	}
	if p["SignatureVersion"] != "1.0" {
		return invalid("SignatureVersion")
	}
	if t := p["SignatureType"]; t != "" {
		// BEARERTOKEN signing is not something copyguard uses.
		return invalid("SignatureType")
	}
	secret, ok := s.secret(p["AccessKeyId"])
	if !ok {
		return errorf(http.StatusNotFound, CodeAccessKeyNotFound, "Specified access key is not found.")
	}
	ts, err := time.Parse(time.RFC3339, p["Timestamp"])
	if err != nil {
		return errorf(http.StatusBadRequest, CodeIllegalTimestamp,
			"The input parameter \"Timestamp\" that is mandatory for processing this request is not in the ISO8601 format.")
	}
	now := s.now()
	if d := now.Sub(ts); d > MaxClockSkew || d < -MaxClockSkew {
		return errorf(http.StatusBadRequest, CodeTimestampExpired, "Specified time stamp or date value is expired.")
	}
	sts := StringToSign(method, p)
	want := Sign(sts, secret)
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["Signature"])) != 1 {
		return errorf(http.StatusBadRequest, CodeSignatureDoesNotMatch, "%s", signatureMismatchMessageHead+sts)
	}
	s.mu.Lock()
	fresh := s.nonces.add(p["AccessKeyId"]+"\x00"+p["SignatureNonce"], later(now, ts).Add(MaxClockSkew), now)
	s.mu.Unlock()
	if !fresh {
		return errorf(http.StatusBadRequest, CodeSignatureNonceUsed, "Specified signature nonce was used already.")
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// nonceStore remembers nonces until the timestamp that carried them can no
// longer pass the skew check, and never more than limit of them, so memory
// stays bounded under sustained load (2,000 req/s × 15 min would otherwise be
// 1.8 M entries). Beyond limit the oldest are forgotten first: a replay of a
// forgotten nonce is accepted, which the documentation of Config.NonceMemory
// states.
type nonceStore struct {
	seen  map[string]time.Time
	order []nonceEntry // insertion order; head is the oldest
	head  int
	limit int
}

type nonceEntry struct {
	key     string
	expires time.Time
}

func (n *nonceStore) add(key string, expires, now time.Time) bool {
	if n.seen == nil {
		n.seen = make(map[string]time.Time)
	}
	n.expire(now)
	if exp, ok := n.seen[key]; ok && now.Before(exp) {
		return false
	}
	n.seen[key] = expires
	n.order = append(n.order, nonceEntry{key, expires})
	return true
}

func (n *nonceStore) expire(now time.Time) {
	for n.head < len(n.order) {
		e := n.order[n.head]
		if len(n.order)-n.head <= n.limit && now.Before(e.expires) {
			break
		}
		if exp, ok := n.seen[e.key]; ok && exp.Equal(e.expires) {
			delete(n.seen, e.key)
		}
		n.order[n.head] = nonceEntry{}
		n.head++
	}
	// Compact once the dead prefix dominates so the slice does not grow
	// without bound.
	if n.head > 1024 && n.head*2 > len(n.order) {
		n.order = append(n.order[:0:0], n.order[n.head:]...)
		n.head = 0
	}
}
