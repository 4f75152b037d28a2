package archtest

import (
	"slices"
	"strings"
	"testing"
)

// TestCheck runs the rules over made-up modules: each case adds one import
// to a module that obeys them and says which arrow, if any, must be named.
func TestCheck(t *testing.T) {
	t.Parallel()
	const m = "example.com/m"
	// base obeys the rules; it mirrors copyguard's real arrows.
	base := func() graph {
		g := graph{module: m, pkgs: map[string]*pkg{}}
		add := func(rel string, imports ...string) {
			p := &pkg{rel: rel, imports: map[string][]string{}, testImports: map[string][]string{}}
			for _, i := range imports {
				p.imports[i] = []string{"x.go"}
			}
			g.pkgs[rel] = p
		}
		add("cloud", "context")
		add("event", m+"/cloud")
		add("policy", m+"/cloud", "cel.dev/cel-go/cel")
		add("worker", m+"/cloud", m+"/event", m+"/policy", "go.uber.org/zap")
		add("bus", m+"/worker", "github.com/nats-io/nats.go/jetstream", "go.uber.org/zap")
		add("cloud/ecs", m+"/cloud", "github.com/aliyun/alibaba-cloud-sdk-go/sdk")
		add("cloud/ecssim", "net/http")
		add("examples", "embed")
		add("internal/waitfor", "testing")
		add("internal/benchdata", m+"/cloud")
		add("internal/natstest", m+"/bus", m+"/internal/waitfor", "github.com/nats-io/nats-server/v2/server")
		add("internal/app", m+"/bus", m+"/cloud/ecs", m+"/worker")
		add("cmd/copyguard", m+"/internal/app", m+"/cloud/ecssim", m+"/examples")
		return g
	}
	imp := func(rel, path string) func(graph) {
		return func(g graph) {
			if g.pkgs[rel] == nil {
				g.pkgs[rel] = &pkg{rel: rel, imports: map[string][]string{}, testImports: map[string][]string{}}
			}
			g.pkgs[rel].imports[path] = []string{"new.go"}
		}
	}
	testImp := func(rel, path string) func(graph) {
		return func(g graph) { g.pkgs[rel].testImports[path] = []string{"new_test.go"} }
	}
	tests := []struct {
		name   string
		change func(graph)
		want   string // a substring of the only message; "" for none
	}{
		{"the base obeys the rules", func(graph) {}, ""},
		{"worker imports nats.go", imp("worker", "github.com/nats-io/nats.go"), "worker → github.com/nats-io/nats.go (NATS, in new.go): core (event, policy, cloud, worker) may not import NATS"},
		{"worker imports bus", imp("worker", m+"/bus"), "worker → example.com/m/bus (bus, in new.go): core (event, policy, cloud, worker) may not import bus"},
		{"event imports the SDK", imp("event", "github.com/aliyun/alibaba-cloud-sdk-go/sdk"), "event → github.com/aliyun/alibaba-cloud-sdk-go/sdk (the Alibaba Cloud SDK, in new.go): core (event, policy, cloud, worker) may not import the Alibaba Cloud SDK"},
		{"policy imports internal/benchdata", imp("policy", m+"/internal/benchdata"), "policy → example.com/m/internal/benchdata (internal/*, in new.go): core (event, policy, cloud, worker) may not import internal/*"},
		{"cloud imports cloud/ecs", imp("cloud", m+"/cloud/ecs"), "cloud → example.com/m/cloud/ecs (cloud/ecs, in new.go): core"},
		{"bus imports cloud/ecs", imp("bus", m+"/cloud/ecs"), "bus → example.com/m/cloud/ecs (cloud/ecs, in new.go): bus may not import cloud/ecs"},
		{"cloud/ecs imports NATS", imp("cloud/ecs", "github.com/nats-io/nats.go"), "cloud/ecs → github.com/nats-io/nats.go"},
		{"cloud/ecs imports the simulator", imp("cloud/ecs", m+"/cloud/ecssim"), "cloud/ecs → example.com/m/cloud/ecssim (cloud/ecssim, in new.go): cloud/ecs may not import cloud/ecssim"},
		{"cloud/ecssim imports cloud/ecs", imp("cloud/ecssim", m+"/cloud/ecs"), "cloud/ecssim → example.com/m/cloud/ecs (cloud/ecs, in new.go): cloud/ecssim may not import cloud/ecs"},
		{"cloud/ecssim imports cloud", imp("cloud/ecssim", m+"/cloud"), "cloud/ecssim may not import core"},
		{"cloud/ecssim imports a module", imp("cloud/ecssim", "go.uber.org/zap"), "cloud/ecssim may not import other third-party modules"},
		{"internal/app imports cmd", imp("internal/app", m+"/cmd/copyguard"), "internal/app → example.com/m/cmd/copyguard (cmd/*, in new.go): internal/* may not import cmd/*"},
		{"cmd imports another cmd", imp("cmd/copyguard", m+"/cmd/other"), "cmd/copyguard → example.com/m/cmd/other (cmd/*, in new.go): cmd/* may not import cmd/*"},
		{"a new internal package imports core and adapters", func(g graph) {
			for _, p := range []string{m + "/bus", m + "/cloud/ecs", m + "/cloud/ecssim", m + "/worker", m + "/internal/benchdata"} {
				imp("internal/bench", p)(g)
			}
		}, ""},
		{"a package no rule covers", imp("newpkg", "fmt"), "newpkg: no rule covers this package"},
		{"a core test uses internal/benchdata and waitfor", func(g graph) {
			testImp("policy", m+"/internal/benchdata")(g)
			testImp("policy", m+"/internal/waitfor")(g)
		}, ""},
		{"a core test uses natstest", testImp("worker", m+"/internal/natstest"), "worker tests → example.com/m/internal/natstest (in new_test.go): it brings in NATS (github.com/nats-io/nats-server/v2/server and 1 more), bus (example.com/m/bus), which core"},
		{"the bus tests use natstest", testImp("bus", m+"/internal/natstest"), ""},
		{"the ecs tests use the simulator", testImp("cloud/ecs", m+"/cloud/ecssim"), ""},
		{"the simulator's tests use the SDK", testImp("cloud/ecssim", "github.com/aliyun/alibaba-cloud-sdk-go/sdk"), ""},
		{"the simulator's tests use cloud/ecs", testImp("cloud/ecssim", m+"/cloud/ecs"), "cloud/ecssim tests → example.com/m/cloud/ecs (in new_test.go): it brings in cloud/ecs (example.com/m/cloud/ecs)"},
		{"a test imports cmd", testImp("internal/app", m+"/cmd/copyguard"), "internal/app tests → example.com/m/cmd/copyguard (in new_test.go): nothing may import cmd/*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := base()
			tt.change(g)
			got := check(g)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("check found\n%s\nwant nothing", strings.Join(got, "\n"))
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("check found\n%s\nwant one message containing\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
	if got := check(base()); !slices.Equal(got, nil) {
		t.Errorf("base: %v", got)
	}
}
