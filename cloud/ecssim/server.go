package ecssim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// APIVersion is the only ECS API version the simulator speaks.
const APIVersion = "2014-05-26"

// Defaults used when Config leaves a field zero.
const (
	DefaultWaitFor      = 30 * time.Second
	DefaultCopyPerGB    = 15 * time.Second // 40 GiB → 10 min in Creating
	DefaultMaxBodyBytes = 64 << 10
	DefaultNonceMemory  = 100_000
)

// DefaultRegions are the regions a server knows when Config.Regions is nil.
var DefaultRegions = []string{
	"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "cn-qingdao", "cn-zhangjiakou",
	"cn-hongkong", "ap-southeast-1", "ap-northeast-1", "ap-south-1", "eu-central-1", "eu-west-1",
	"us-west-1", "us-east-1",
}

// Config configures a Server. The zero value is usable but accepts no keys,
// so every request fails with InvalidAccessKeyId.NotFound.
type Config struct {
	// Keys maps AccessKeyId to AccessKeySecret. STS keys go here too; the
	// SecurityToken that comes with them is signed but not checked.
	Keys map[string]string
	// Regions are the known region ids; nil means DefaultRegions.
	Regions []string
	// Now is the clock for copy progress, timestamp skew, nonce expiry and
	// throttling refill; nil means time.Now. Latency and Delay use real time.
	Now func() time.Time
	// WaitFor is how long a copy stays Waiting; 0 means DefaultWaitFor.
	WaitFor time.Duration
	// CopyTime is how long a copy stays Creating; 0 means CopyPerGB × size.
	CopyTime time.Duration
	// CopyPerGB is the copy speed when CopyTime is 0; 0 means DefaultCopyPerGB.
	CopyPerGB time.Duration
	// MaxBodyBytes bounds the form body and the query string; 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// NonceMemory is how many recent nonces are remembered for
	// SignatureNonceUsed, on top of the 15-minute window; 0 means
	// DefaultNonceMemory. Older nonces are forgotten first.
	NonceMemory int
	// Seed makes generated ids and fault draws reproducible; 0 means random.
	Seed uint64
}

// Server simulates the ECS API over HTTP. All methods are safe for
// concurrent use.
type Server struct {
	keysMu  sync.RWMutex // guards keys: SetKey and RemoveKey change them
	keys    map[string]string
	now     func() time.Time
	timing  timing
	maxBody int64
	regions []string

	mu     sync.Mutex // guards everything below
	rng    *rand.Rand
	seq    uint64
	images map[string]*regionImages
	nonces nonceStore
	calls  map[callKey]int
	totals map[string]int
	// received counts every request read, by action, whatever its
	// signature: what reached the API, for tests of callers that stop.
	received map[string]int
	faults   Faults
	buckets  map[callKey]*bucket // keyed by (action, region)
	scripts  map[string][]Answer
}

type callKey struct{ action, id string }

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		keys:     make(map[string]string, len(cfg.Keys)),
		now:      cfg.Now,
		timing:   timing{waitFor: cfg.WaitFor, copyTime: cfg.CopyTime, perGB: cfg.CopyPerGB},
		maxBody:  cfg.MaxBodyBytes,
		images:   make(map[string]*regionImages),
		calls:    make(map[callKey]int),
		totals:   make(map[string]int),
		received: make(map[string]int),
		buckets:  make(map[callKey]*bucket),
		scripts:  make(map[string][]Answer),
	}
	for k, v := range cfg.Keys {
		s.keys[k] = v
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timing.waitFor <= 0 {
		s.timing.waitFor = DefaultWaitFor
	}
	if s.timing.perGB <= 0 {
		s.timing.perGB = DefaultCopyPerGB
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.nonces.limit = cfg.NonceMemory
	if s.nonces.limit <= 0 {
		s.nonces.limit = DefaultNonceMemory
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	regions := cfg.Regions
	if regions == nil {
		regions = DefaultRegions
	}
	for _, r := range regions {
		if _, dup := s.images[r]; !dup {
			s.images[r] = &regionImages{byID: make(map[string]*image)}
			s.regions = append(s.regions, r)
		}
	}
	return s
}

// SetKey makes the server accept the key pair id/secret from now on, as
// creating (or re-enabling) an access key does.
func (s *Server) SetKey(id, secret string) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	s.keys[id] = secret
}

// RemoveKey makes the server refuse the key id from now on
// (InvalidAccessKeyId.NotFound), as deleting an access key does.
func (s *Server) RemoveKey(id string) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	delete(s.keys, id)
}

func (s *Server) secret(id string) (string, bool) {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	v, ok := s.keys[id]
	return v, ok
}

// Regions returns the known region ids in configuration order.
func (s *Server) Regions() []string { return append([]string(nil), s.regions...) }

// Calls counts requests for action that named imageID in their ImageId
// parameter (each id of a comma list counts once; "" counts requests without
// ImageId; for CopyImage the id is the source image). A request counts once
// its signature is valid, whatever happens next: scripted, throttled,
// failed, dropped, rejected by the action, or answered.
func (s *Server) Calls(action, imageID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[callKey{action, imageID}]
}

// TotalCalls counts every request for action with a valid signature, once
// per request, on the same terms as Calls.
func (s *Server) TotalCalls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals[action]
}

// Received counts every request for action the server read, signed with a
// known key or not (Calls and TotalCalls count only valid signatures).
func (s *Server) Received(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[action]
}

// ServeHTTP answers one ECS RPC request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	p, aerr := s.readParams(w, r)
	if aerr != nil {
		writeError(w, reqID, "", aerr)
		return
	}
	s.mu.Lock()
	s.received[p["Action"]]++
	s.mu.Unlock()
	region := p["RegionId"]
	if aerr := s.verify(r.Method, p); aerr != nil {
		writeError(w, reqID, region, aerr)
		return
	}
	action := p["Action"]
	answer, scripted := s.record(action, splitIDs(p["ImageId"]))
	if scripted {
		s.play(w, r, reqID, p, answer)
		return
	}
	v, latency := s.decide(action, region)
	if !pause(r, latency) {
		return
	}
	switch v {
	case verdictDrop:
		drop(w)
	case verdictThrottle:
		writeError(w, reqID, region, errorf(http.StatusBadRequest, CodeThrottling,
			"Request was denied due to user flow control."))
	case verdictInternal:
		writeError(w, reqID, region, errorf(http.StatusInternalServerError, CodeInternalError,
			"The request processing has failed due to some unknown error, exception or failure."))
	case verdictUnavailable:
		writeError(w, reqID, region, errorf(http.StatusServiceUnavailable, CodeServiceUnavailable,
			"The request has failed due to a temporary failure of the server."))
	case verdictBadGateway:
		writeRaw(w, http.StatusBadGateway, badGatewayBody)
	default:
		s.handle(w, reqID, p)
	}
}

// handle runs the action itself, after signature and faults, and answers.
func (s *Server) handle(w http.ResponseWriter, reqID string, p map[string]string) {
	body, aerr := s.act(reqID, p)
	reply(w, reqID, p["RegionId"], body, aerr)
}

// act runs the action and returns its answer without writing it, so that a
// scripted Answer can let the action take effect and then lose the answer.
func (s *Server) act(reqID string, p map[string]string) (body any, aerr *apiError) {
	region := p["RegionId"]
	// The codes for a wrong Version or Format are not documented for ECS;
	// InvalidVersion is what the POP gateway is reported to send.
	switch {
	case p["Version"] != APIVersion:
		aerr = errorf(http.StatusBadRequest, CodeInvalidVersion, "Specified parameter Version is not valid.")
	case p["Format"] != "JSON":
		aerr = errorf(http.StatusBadRequest, CodeInvalidParameter,
			"The specified parameter \"Format\" is not valid: this endpoint answers JSON only.")
	case region == "":
		aerr = missing("RegionId")
	default:
		switch p["Action"] {
		case "CopyImage":
			body, aerr = s.copyImage(reqID, p)
		case "DescribeImages":
			body, aerr = s.describeImages(reqID, p)
		case "CancelCopyImage":
			body, aerr = s.cancelCopyImage(reqID, p)
		default:
			aerr = errorf(http.StatusNotFound, CodeInvalidAction,
				"Specified api is not found, please check your url and method.")
		}
	}
	return body, aerr
}

// reply writes what act returned.
func reply(w http.ResponseWriter, reqID, region string, body any, aerr *apiError) {
	if aerr != nil {
		writeError(w, reqID, region, aerr)
		return
	}
	writeJSON(w, http.StatusOK, reqID, body)
}

// readParams merges the query and a form body into one map. A parameter may
// appear once only: the canonical string to sign has one value per key, so a
// repeated key would make the signature ambiguous.
func (s *Server) readParams(w http.ResponseWriter, r *http.Request) (map[string]string, *apiError) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, errorf(http.StatusForbidden, CodeUnsupportedHTTPMethod, "The HTTP method %q is not supported.", r.Method)
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		return nil, errorf(http.StatusNotFound, CodeInvalidAction, "Specified api is not found, please check your url and method.")
	}
	if int64(len(r.URL.RawQuery)) > s.maxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "The query string is larger than %d bytes.", s.maxBody)
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParameter, "The query string is malformed.")
	}
	var form url.Values
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" && r.Body != nil {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "The request body is larger than %d bytes.", s.maxBody)
		case err != nil:
			return nil, errorf(http.StatusBadRequest, CodeInvalidParameter, "The request body could not be read.")
		}
		if form, err = url.ParseQuery(string(b)); err != nil {
			return nil, errorf(http.StatusBadRequest, CodeInvalidParameter, "The form body is malformed.")
		}
	}
	p := make(map[string]string, len(query)+len(form))
	for _, src := range []url.Values{query, form} {
		for k, vs := range src {
			if _, dup := p[k]; dup || len(vs) != 1 {
				return nil, errorf(http.StatusBadRequest, CodeInvalidParameter, "The parameter %q is given more than once.", k)
			}
			p[k] = vs[0]
		}
	}
	return p, nil
}

// record counts the request and pops the first scripted answer queued for
// one of the ids it names.
func (s *Server) record(action string, ids []string) (Answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals[action]++
	if len(ids) == 0 {
		s.calls[callKey{action, ""}]++
	}
	for i, id := range ids {
		if !containsBefore(ids, i) {
			s.calls[callKey{action, id}]++
		}
	}
	for _, id := range ids {
		if q := s.scripts[id]; len(q) > 0 {
			if len(q) == 1 {
				delete(s.scripts, id)
			} else {
				s.scripts[id] = q[1:]
			}
			return q[0], true
		}
	}
	return Answer{}, false
}

func containsBefore(ids []string, i int) bool {
	for _, id := range ids[:i] {
		if id == ids[i] {
			return true
		}
	}
	return false
}

// splitIDs reads an ImageId parameter, which DescribeImages documents as a
// comma list; the other actions take one id, and a comma in it then simply
// names no image.
func splitIDs(v string) []string {
	if v == "" {
		return nil
	}
	var ids []string
	for id := range strings.SplitSeq(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// newRequestID returns a UUID-shaped id like the real service's. It uses the
// global generator because request ids need no reproducibility and this
// keeps the server lock out of the hot path.
func newRequestID() string {
	a, b := rand.Uint64(), rand.Uint64()
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff))
}
