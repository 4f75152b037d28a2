package ecs

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/copyguard/copyguard/cloud"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"zero", Config{}, nil},
		{"endpoint host:port", Config{Endpoint: "127.0.0.1:8080"}, nil},
		{"endpoint host", Config{Endpoint: "ecs-vpc.cn-hangzhou.aliyuncs.com"}, nil},
		{"endpoint ipv6", Config{Endpoint: "[::1]:443"}, nil},
		{"endpoint with scheme", Config{Endpoint: "https://ecs.aliyuncs.com"}, []string{"endpoint"}},
		{"endpoint with path", Config{Endpoint: "host/x"}, []string{"endpoint"}},
		{"endpoint with query", Config{Endpoint: "host?a=b"}, []string{"endpoint"}},
		{"endpoint port only", Config{Endpoint: ":80"}, []string{"endpoint"}},
		{"static ak", Config{AccessKeyID: "ak", AccessKeySecret: "sk"}, nil},
		{"static sts", Config{AccessKeyID: "ak", AccessKeySecret: "sk", SecurityToken: "t"}, nil},
		{"all problems at once", Config{Endpoint: "http://x", AccessKeyID: "ak", ConnectTimeout: -1, ReadTimeout: -1},
			[]string{"endpoint", "access key secret", "connect timeout", "read timeout"}},
		{"secret without id", Config{AccessKeySecret: "sk"}, []string{"access key id"}},
		{"token without id", Config{SecurityToken: "t"}, []string{"security token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			if _, err := New(tt.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestConfigRedaction(t *testing.T) {
	cfg := Config{Endpoint: "127.0.0.1:1", AccessKeyID: "LTAI-id", AccessKeySecret: testSecret, SecurityToken: testToken}
	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", cfg),
		"%+v":    fmt.Sprintf("%+v", cfg),
		"%#v":    fmt.Sprintf("%#v", cfg),
		"%s":     fmt.Sprintf("%s", cfg),
		"%v ptr": fmt.Sprintf("%v", &cfg),
		"nested": fmt.Sprintf("%+v", struct{ C Config }{cfg}),
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(b)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs["client %v"] = fmt.Sprintf("%v", c)
	outputs["client %+v"] = fmt.Sprintf("%+v", c)
	for name, out := range outputs {
		if strings.Contains(out, testSecret) || strings.Contains(out, testToken) {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
	}
	for _, name := range []string{"%v", "json"} {
		if !strings.Contains(outputs[name], "LTAI-id") || !strings.Contains(outputs[name], redacted) {
			t.Errorf("%s = %s, want the key id and %s", name, outputs[name], redacted)
		}
	}
	if got := fmt.Sprint(Config{}); !strings.Contains(got, "default_chain") || strings.Contains(got, redacted) {
		t.Errorf("zero Config prints %s", got)
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{AccessKeyID: "ak", AccessKeySecret: "sk"})
	if err != nil {
		t.Fatal(err)
	}
	if c.scheme != "https" || c.connectTimeout != DefaultConnectTimeout || c.readTimeout != DefaultReadTimeout {
		t.Errorf("New defaults: scheme %q connect %v read %v", c.scheme, c.connectTimeout, c.readTimeout)
	}
	c, err = New(Config{Insecure: true, AccessKeyID: "ak", AccessKeySecret: "sk", ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.scheme != "http" || c.connectTimeout != time.Second || c.readTimeout != 2*time.Second {
		t.Errorf("New: scheme %q connect %v read %v", c.scheme, c.connectTimeout, c.readTimeout)
	}
}

// flakyProvider fails on its first call, then works; it counts calls.
type flakyProvider struct{ calls int }

func (p *flakyProvider) GetCredentials() (*credentials.Credentials, error) {
	p.calls++
	if p.calls == 1 {
		return nil, fmt.Errorf("imds unreachable")
	}
	return &credentials.Credentials{AccessKeyId: "ak", AccessKeySecret: "sk"}, nil
}

func (p *flakyProvider) GetProviderName() string { return "flaky" }

func TestLockedProviderRenewsAfterFailure(t *testing.T) {
	var made []*flakyProvider
	renew := func() credentials.CredentialsProvider {
		p := &flakyProvider{calls: 1} // a fresh chain that works
		made = append(made, p)
		return p
	}
	l := &lockedProvider{p: &flakyProvider{}, renew: renew}
	if _, err := l.GetCredentials(); err == nil || !strings.Contains(err.Error(), "get credentials: imds unreachable") {
		t.Fatalf("first GetCredentials err = %v", err)
	}
	if len(made) != 1 {
		t.Fatalf("renewed %d times, want 1", len(made))
	}
	if cc, err := l.GetCredentials(); err != nil || cc.AccessKeyId != "ak" {
		t.Fatalf("second GetCredentials = %v, %v", cc, err)
	}
	if class, _ := cloud.Classify(&credentialsError{err: fmt.Errorf("x")}); class != cloud.ClassPermanent {
		t.Errorf("credentials error class = %v, want permanent", class)
	}
}

func TestParseProgressAndTime(t *testing.T) {
	for in, want := range map[string]int{"": 0, "0%": 0, "32%": 32, " 100% ": 100, "7": 7, "12.5%": 12, "150%": 100, "-3%": 0, "n/a": 0, "NaN%": 0} {
		if got := parseProgress(in); got != want {
			t.Errorf("parseProgress(%q) = %d, want %d", in, got, want)
		}
	}
	want := time.Date(2019, 11, 15, 6, 7, 5, 0, time.UTC)
	for in, w := range map[string]time.Time{
		"2019-11-15T06:07:05Z":      want,
		"2019-11-15T14:07:05+08:00": want,
		"2019-11-15T06:07Z":         want.Truncate(time.Minute),
		"":                          {},
		"yesterday":                 {},
	} {
		if got := parseTime(in); !got.Equal(w) {
			t.Errorf("parseTime(%q) = %v, want %v", in, got, w)
		}
	}
}

func TestCheckIDs(t *testing.T) {
	for _, r := range []string{"", "cn-hangzhou.evil.com", "cn hangzhou", "a/b", "x#"} {
		if checkRegion(r) == nil {
			t.Errorf("checkRegion(%q) = nil", r)
		}
	}
	if err := checkIDs("cn-hangzhou", " "); err == nil {
		t.Error("empty image id accepted")
	}
	if err := checkIDs("cn-hangzhou", "m-1"); err != nil {
		t.Error(err)
	}
}

// countingProvider mutates state on every call, as the SDK's caching
// providers do; the race detector flags it if calls are not serialised.
type countingProvider struct{ calls int }

func (p *countingProvider) GetCredentials() (*credentials.Credentials, error) {
	p.calls++
	return &credentials.Credentials{AccessKeyId: "ak", AccessKeySecret: "sk"}, nil
}

func (p *countingProvider) GetProviderName() string { return "counting" }

func TestLockedProviderSerialises(t *testing.T) {
	p := &countingProvider{}
	l := Config{Credentials: p}.provider()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if _, err := l.GetCredentials(); err != nil {
					t.Error(err)
				}
				_ = l.GetProviderName()
			}
		})
	}
	wg.Wait()
	if p.calls != 16*50 {
		t.Errorf("calls = %d, want %d", p.calls, 16*50)
	}
}
