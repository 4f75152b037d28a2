package ecs_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/copyguard/copyguard/cloud/ecs"
)

// TestCredentialSources signs with each kind of credentials the Config
// takes. The default chain is fed from the environment, its first link, so
// it never reaches for the instance metadata service.
func TestCredentialSources(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		mod  func(*ecs.Config)
	}{
		{"static ak", nil, func(*ecs.Config) {}},
		{"static sts", nil, func(c *ecs.Config) { c.SecurityToken = "sts-token" }},
		{"provider", nil, func(c *ecs.Config) {
			c.AccessKeyID, c.AccessKeySecret = "", ""
			c.Credentials = credentials.NewStaticSTSCredentialsProvider(testAK, testSecret, "sts-token")
		}},
		{"static wins over provider", nil, func(c *ecs.Config) {
			c.Credentials = credentials.NewStaticAKCredentialsProvider("LTAIwrong", "wrong")
		}},
		{"default chain from env", map[string]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID":         testAK,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET":     testSecret,
			"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
			"ALIBABA_CLOUD_CLI_PROFILE_DISABLED":  "true",
		}, func(c *ecs.Config) { c.AccessKeyID, c.AccessKeySecret = "", "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			e := newEnv(t, tt.mod)
			id := e.waiting(region)
			if _, err := e.c.CancelCopy(context.Background(), region, id); err != nil {
				t.Fatalf("CancelCopy with %s: %v", e.cfg, err)
			}
		})
	}
}

type failingProvider struct{ err error }

func (p failingProvider) GetCredentials() (*credentials.Credentials, error) { return nil, p.err }
func (p failingProvider) GetProviderName() string                           { return "failing" }

// TestCredentialFailures: nothing is sent, and the class depends on why.
func TestCredentialFailures(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		class string
	}{
		{"misconfigured", errors.New("ALIBABA_CLOUD_ACCESS_KEY_ID is empty"), "permanent"},
		{"metadata service unreachable", &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "retryable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *ecs.Config) {
				c.AccessKeyID, c.AccessKeySecret = "", ""
				c.Credentials = failingProvider{tt.err}
			})
			_, err := e.c.CancelCopy(context.Background(), region, "m-1")
			if classOf(err) != tt.class || !strings.Contains(err.Error(), "get credentials: ") {
				t.Errorf("err = %v (class %s), want class %s", err, classOf(err), tt.class)
			}
			if n := e.sim.TotalCalls("CancelCopyImage"); n != 0 {
				t.Errorf("simulator saw %d calls", n)
			}
		})
	}
}
