package app

import (
	"errors"
	"strings"
	"testing"
)

func TestECSEndpointFlags(t *testing.T) {
	tests := []struct {
		name            string
		endpoint        string
		insecure, allow bool
		host            string
		want            []string // in the error; none: valid
	}{
		{"https to the SDK's endpoints", "", false, false, "", nil},
		{"https to a private endpoint", "ecs-vpc.cn-hangzhou.aliyuncs.com", false, false, "ecs-vpc.cn-hangzhou.aliyuncs.com", nil},
		{"https scheme given", "https://ecs.example.com/", false, false, "ecs.example.com", nil},
		{"insecure to 127.0.0.1", "127.0.0.1:8080", true, false, "127.0.0.1:8080", nil},
		{"insecure to localhost", "localhost:8080", true, false, "localhost:8080", nil},
		{"insecure to ::1", "[::1]:8080", true, false, "[::1]:8080", nil},
		{"insecure to 127.0.0.2", "127.0.0.2", true, false, "127.0.0.2", nil},
		{"http scheme with insecure", "http://127.0.0.1:8080", true, false, "127.0.0.1:8080", nil},
		{"insecure to a remote host", "ecs.example.com:80", true, false, "", []string{"--ecs-insecure", "ecs.example.com:80", "not a loopback", "--ecs-insecure-allow-remote"}},
		{"insecure to a remote IP", "10.0.0.5:80", true, false, "", []string{"--ecs-insecure", "10.0.0.5:80", "--ecs-insecure-allow-remote"}},
		{"insecure to a name that only looks local", "localhost.evil.example", true, false, "", []string{"--ecs-insecure-allow-remote"}},
		{"insecure to the SDK's endpoints", "", true, false, "", []string{"--ecs-insecure", "--ecs-insecure-allow-remote", "loopback --ecs-endpoint"}},
		{"insecure to a remote host, allowed", "http://ecs.example.com:80", true, true, "ecs.example.com:80", nil},
		{"http scheme without insecure", "http://127.0.0.1:8080", false, false, "", []string{"--ecs-endpoint", "http://127.0.0.1:8080", "needs --ecs-insecure"}},
		{"https scheme with insecure", "https://127.0.0.1:8080", true, false, "", []string{"--ecs-endpoint", "--ecs-insecure", "drop one"}},
		{"allow-remote alone", "ecs.example.com", false, true, "", []string{"--ecs-insecure-allow-remote", "only means something with --ecs-insecure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.PolicyPaths = []string{"p"}
			c.ECSEndpoint, c.ECSInsecure, c.ECSInsecureAllowRemote = tt.endpoint, tt.insecure, tt.allow
			err := errors.Join(c.Validate(), c.ecsEndpointError())
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if got := c.ECSHost(); got != tt.host {
					t.Errorf("ECSHost = %q, want %q", got, tt.host)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate passed")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
