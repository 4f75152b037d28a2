package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/internal/app"
)

// TestConfigLayers checks loadConfig's precedence (default < --config file
// < COPYGUARD_* < flags) by comparing the whole resulting Config with the
// defaults plus the expected changes, so a setting that leaks into another
// field fails too.
func TestConfigLayers(t *testing.T) {
	tests := []struct {
		name string
		file string            // written to a temp file; {FILE} in env and args names it
		env  map[string]string // the only variables loadConfig sees
		args []string
		want func(c *app.Config) // turns app.Defaults() into the expected config
	}{
		{
			name: "defaults",
			args: []string{"--policy", "p.yaml"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"p.yaml"} },
		},
		{
			name: "file keys, lists as YAML list and as comma string",
			file: `# a comment
policy:
  - a.yaml
  - policies/
nats_url: nats://10.0.0.1:4222,nats://10.0.0.2:4222
regions: cn-hangzhou, cn-shanghai ,us-west-1
subject_prefix: acme
ecs_endpoint: 127.0.0.1:8080
ecs_insecure: true
qps: 2.5
burst: 3
dry_run: true
http_addr: ""
instance_id: w1
log_format: console
log_level: debug
trigger_workers: 4
job_workers: 8
max_attempts: 3
max_retry_time: 90s
call_timeout: 3s
reconcile_every: 5m
shutdown_timeout: 1m30s
max_body_size: 1024
claim_ttl: 48h
event_max_age: 24h
replicas: 3
data_dir: /var/lib/copyguard
nats_host: 0.0.0.0
nats_port: -1
`,
			args: []string{"--config", "{FILE}"},
			want: func(c *app.Config) {
				c.PolicyPaths = []string{"a.yaml", "policies/"}
				c.NATSURL = "nats://10.0.0.1:4222,nats://10.0.0.2:4222"
				c.Regions = []string{"cn-hangzhou", "cn-shanghai", "us-west-1"}
				c.SubjectPrefix = "acme"
				c.ECSEndpoint = "127.0.0.1:8080"
				c.ECSInsecure = true
				c.QPS, c.Burst = 2.5, 3
				c.DryRun = true
				c.HTTPAddr = ""
				c.InstanceID = "w1"
				c.LogFormat, c.LogLevel = "console", "debug"
				c.TriggerWorkers, c.JobWorkers, c.MaxAttempts = 4, 8, 3
				c.MaxRetryTime, c.CallTimeout, c.ReconcileEvery = 90*time.Second, 3*time.Second, 5*time.Minute
				c.ShutdownTimeout, c.MaxBodySize = 90*time.Second, 1024
				c.ClaimTTL, c.EventMaxAge, c.Replicas = 48*time.Hour, 24*time.Hour, 3
				c.DataDir, c.NATSHost, c.NATSPort = "/var/lib/copyguard", "0.0.0.0", -1
			},
		},
		{
			name: "file: policy as comma string, regions as flow list",
			file: "policy: a.yaml,b.yaml\nregions: [cn-hangzhou, us-west-1]\n",
			args: []string{"--config", "{FILE}"},
			want: func(c *app.Config) {
				c.PolicyPaths = []string{"a.yaml", "b.yaml"}
				c.Regions = []string{"cn-hangzhou", "us-west-1"}
			},
		},
		{
			name: "empty file changes nothing",
			file: "",
			args: []string{"--config", "{FILE}", "--policy", "p.yaml"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"p.yaml"} },
		},
		{
			name: "env overrides file, and a list replaces rather than appends",
			file: "policy: [f.yaml]\nqps: 2\nregions: [cn-hangzhou, cn-beijing]\ndry_run: true\n",
			env: map[string]string{"COPYGUARD_QPS": "7", "COPYGUARD_REGIONS": "us-west-1, eu-central-1",
				"COPYGUARD_DRY_RUN": "false", "COPYGUARD_CALL_TIMEOUT": "2s"},
			args: []string{"--config", "{FILE}"},
			want: func(c *app.Config) {
				c.PolicyPaths = []string{"f.yaml"}
				c.QPS = 7
				c.Regions = []string{"us-west-1", "eu-central-1"}
				c.DryRun = false
				c.CallTimeout = 2 * time.Second
			},
		},
		{
			name: "flags override env and file",
			file: "policy: [f.yaml]\nqps: 2\nlog_level: warn\n",
			env: map[string]string{"COPYGUARD_QPS": "7", "COPYGUARD_POLICY": "e1.yaml,e2.yaml",
				"COPYGUARD_DRY_RUN": "true", "COPYGUARD_LOG_LEVEL": "error", "COPYGUARD_NATS_URL": "nats://env:4222"},
			args: []string{"--config", "{FILE}", "--qps", "9", "--policy", "x.yaml", "--dry-run=false", "--nats-url", ""},
			want: func(c *app.Config) {
				c.PolicyPaths = []string{"x.yaml"}
				c.QPS = 9
				c.DryRun = false
				c.LogLevel = "error"
				c.NATSURL = "" // an explicit empty flag still wins: embedded server
			},
		},
		{
			name: "repeatable --policy, each may hold a comma list",
			args: []string{"--policy", "a.yaml", "--policy=b.yaml,c.yaml", "--policy", " d/ "},
			want: func(c *app.Config) { c.PolicyPaths = []string{"a.yaml", "b.yaml", "c.yaml", "d/"} },
		},
		{
			name: "a repeated single-value flag: the last one wins",
			args: []string{"--policy", "p", "--qps", "3", "--qps", "4"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"p"}; c.QPS = 4 },
		},
		{
			name: "bool flags without a value, and from env as 1",
			env:  map[string]string{"COPYGUARD_ECS_INSECURE": "1", "COPYGUARD_ECS_ENDPOINT": "127.0.0.1:8080"},
			args: []string{"--policy", "p", "--dry-run"},
			want: func(c *app.Config) {
				c.PolicyPaths = []string{"p"}
				c.DryRun = true
				c.ECSInsecure, c.ECSEndpoint = true, "127.0.0.1:8080"
			},
		},
		{
			name: "bool flag set false over a true file value",
			file: "ecs_insecure: true\n",
			args: []string{"--config", "{FILE}", "--policy", "p", "--ecs-insecure=false"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"p"} },
		},
		{
			name: "COPYGUARD_CONFIG names the file",
			file: "policy: [from-file.yaml]\nburst: 5\n",
			env:  map[string]string{"COPYGUARD_CONFIG": "{FILE}"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"from-file.yaml"}; c.Burst = 5 },
		},
		{
			name: "--config wins over COPYGUARD_CONFIG",
			file: "policy: [from-flag.yaml]\n",
			env:  map[string]string{"COPYGUARD_CONFIG": "/nonexistent/copyguard.yaml"},
			args: []string{"--config", "{FILE}"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"from-flag.yaml"} },
		},
		{
			name: "an empty variable is ignored",
			env:  map[string]string{"COPYGUARD_SUBJECT_PREFIX": "", "COPYGUARD_POLICY": "p"},
			want: func(c *app.Config) { c.PolicyPaths = []string{"p"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeConfig(t, tt.file)
			var stderr bytes.Buffer
			got, err := loadConfig(expand(tt.args, file), fakeEnv(tt.env, file), &stderr)
			if err != nil {
				t.Fatalf("loadConfig: %v\nstderr: %s", err, stderr.String())
			}
			want := app.Defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config:\n got %+v\nwant %+v", got, want)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
}

// TestConfigErrors checks that every problem is reported at once, each
// located: file problems as file:line:col, variables by name, flags and
// Validate's findings by flag. The error must have exactly the expected
// lines, no more.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string // one per line of the error, in order; {FILE} names the file
	}{
		{
			name: "everything at once",
			file: `policy: a.yaml
qps: fast
nosuch: 1
call_timeout: 10
burst: [1, 2]
dry_run: {x: 1}
regions:
  - cn-hangzhou
  - [nested]
`,
			env:  map[string]string{"COPYGUARD_MAX_ATTEMPTS": "many", "COPYGUARD_REPLICAS": "2"},
			args: []string{"--config", "{FILE}", "--shutdown-timeout", "soon", "--log-format", "xml", "--job-workers", "0", "--dry-run=maybe"},
			want: []string{
				`{FILE}:2:6: qps: "fast" is not a number`,
				`{FILE}:3:1: unknown setting "nosuch"`,
				`{FILE}:4:15: call_timeout: "10" is not a duration (like 30s, 5m, 2h)`,
				`{FILE}:5:8: burst: want a single value, not a list`,
				`{FILE}:6:10: dry_run: want a scalar value`,
				`{FILE}:9:5: regions: want a scalar value`,
				`$COPYGUARD_MAX_ATTEMPTS: "many" is not a whole number`,
				`--dry-run: "maybe" is not true or false`,
				`--shutdown-timeout: "soon" is not a duration (like 30s, 5m, 2h)`,
				`--log-format: "xml": want json or console`,
				`--trigger-workers/job-workers: must be >= 1`,
				`--replicas: 2: want 1, 3 or 5`,
			},
		},
		{
			name: "Validate names the flags",
			args: []string{"--nats-url", "", "--data-dir", "", "--subject-prefix", "", "--qps", "0", "--burst", "0",
				"--max-attempts", "0", "--call-timeout", "0s", "--instance-id", ""},
			want: []string{
				`--policy: at least one policy file or directory is required`,
				`--data-dir: required for the embedded NATS server`,
				`--subject-prefix: empty`,
				`--qps: 0: must be > 0`,
				`--burst: 0: must be >= 1`,
				`--max-attempts: 0: must be >= 1`,
				`--call-timeout: 0s: must be > 0`,
				`--instance-id: empty`,
			},
		},
		{
			name: "bad numbers from env and flags",
			env:  map[string]string{"COPYGUARD_QPS": "1,5", "COPYGUARD_BURST": "2.5"},
			args: []string{"--policy", "p", "--nats-port", "x", "--max-body-size", "1e6"},
			want: []string{
				`$COPYGUARD_QPS: "1,5" is not a number`,
				`$COPYGUARD_BURST: "2.5" is not a whole number`,
				`--nats-port: "x" is not a whole number`,
				`--max-body-size: "1e6" is not a whole number`,
			},
		},
		{
			name: "file that is not a mapping",
			file: "- qps\n- burst\n",
			args: []string{"--config", "{FILE}", "--policy", "p"},
			want: []string{`{FILE}:1:1: want a mapping of settings`},
		},
		{
			name: "file that is not YAML",
			file: "qps: 1\n  burst: [\n",
			args: []string{"--config", "{FILE}", "--policy", "p"},
			want: []string{`{FILE}: yaml: line 2:`},
		},
		{
			name: "missing file, named by COPYGUARD_CONFIG",
			env:  map[string]string{"COPYGUARD_CONFIG": "/nonexistent/copyguard.yaml"},
			args: []string{"--policy", "p"},
			want: []string{`--config: open /nonexistent/copyguard.yaml: no such file or directory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeConfig(t, tt.file)
			var stderr bytes.Buffer
			_, err := loadConfig(expand(tt.args, file), fakeEnv(tt.env, file), &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d error lines, want %d:\n%s", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "{FILE}", file)
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: want prefix %q\nerror:\n%s", i+1, w, err)
				}
			}
			if errors.Is(err, errUsage) {
				t.Errorf("a config problem is marked as a usage error: %v", err)
			}
			if stderr.Len() > 0 {
				t.Errorf("loadConfig printed (the caller prints the error): %s", stderr.String())
			}
		})
	}
}

// TestConfigUnknownFlag: loadConfig returns an unknown flag as a usage
// error, printing nothing, and run prints it once, with one line pointing
// at --help, and exits 2.
func TestConfigUnknownFlag(t *testing.T) {
	var stderr bytes.Buffer
	_, err := loadConfig([]string{"--policy", "p", "--polcy", "q"}, fakeEnv(nil, ""), &stderr)
	if !errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want a usage error", err)
	}
	if err.Error() != "flag provided but not defined: -polcy (did you mean --policy?)" || stderr.Len() > 0 {
		t.Errorf("err %q, printed %q", err, stderr.String())
	}

	// Through the command: exit status 2, nothing printed twice.
	stderr.Reset()
	var stdout bytes.Buffer
	err = run(t.Context(), []string{"run", "--polcy", "q"}, &stdout, &stderr)
	var code exitError
	if !errors.As(err, &code) || code != 2 {
		t.Errorf("run --polcy: %v, want exit status 2", err)
	}
	if n := strings.Count(stderr.String(), "-polcy"); n != 1 {
		t.Errorf("the unknown flag is mentioned %d times on stderr:\n%s", n, stderr.String())
	}
	// Positional arguments are a mistake of the command line too.
	_, err = loadConfig([]string{"--policy", "p", "extra", "--qps", "1"}, fakeEnv(nil, ""), &stderr)
	if !errors.Is(err, errUsage) || err.Error() != "unexpected arguments: extra --qps 1" {
		t.Errorf("positional arguments: %v, want a usage error", err)
	}
	if want := "copyguard run: flag provided but not defined: -polcy (did you mean --policy?)\nRun 'copyguard run --help' for usage.\n"; stderr.String() != want || stdout.Len() > 0 {
		t.Errorf("stderr %q, want %q; stdout %q", stderr.String(), want, stdout.String())
	}
}

// TestConfigHelp: -h lists every setting with its real default, not the
// zero value, and is not an error for run.
func TestConfigHelp(t *testing.T) {
	var stderr bytes.Buffer
	_, err := loadConfig([]string{"-h"}, fakeEnv(nil, ""), &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := stderr.String()
	for _, s := range settings(&app.Config{}) {
		if !strings.Contains(help, "-"+s.name) || !strings.Contains(help, "$"+s.env()) {
			t.Errorf("-h does not list --%s with $%s", s.name, s.env())
		}
	}
	for _, want := range []string{"(default 10)", "(default 10s)", "(default 4222)", "(default copyguard)", "(default 127.0.0.1:9090)", "(default 168h0m0s)"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "(default false)") || strings.Contains(help, "(default 0s)") {
		t.Errorf("-h shows zero values as defaults:\n%s", help)
	}
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"run", "-h"}, &stdout, &stderr); err != nil {
		t.Errorf("run -h: %v", err)
	}
}

// TestConfigKeysMatchFlags: every setting's file key and variable are
// derived from its flag, and each is accepted by the file loader and the
// environment: a setting added to one layer only would fail here.
func TestConfigKeysMatchFlags(t *testing.T) {
	for _, s := range settings(&app.Config{}) {
		if want := strings.ReplaceAll(s.name, "-", "_"); s.key() != want {
			t.Errorf("--%s: file key %q, want %q", s.name, s.key(), want)
		}
		if want := "COPYGUARD_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_")); s.env() != want {
			t.Errorf("--%s: variable %q, want %q", s.name, s.env(), want)
		}
		// A value of the wrong shape must be refused by all three layers,
		// each naming the setting its own way.
		if s.list || s.show == nil {
			continue
		}
		file := writeConfig(t, s.key()+": [1, 2]\n")
		_, err := loadConfig([]string{"--config", file}, fakeEnv(nil, ""), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), file+":1:") || !strings.Contains(err.Error(), s.key()+": want a single value") {
			t.Errorf("file key %s with a list: %v", s.key(), err)
		}
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copyguard.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func expand(args []string, file string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "{FILE}", file)
	}
	return out
}

// fakeEnv is the environment loadConfig sees: only env, never the test
// process's own COPYGUARD_* variables.
func fakeEnv(env map[string]string, file string) func(string) string {
	return func(k string) string { return strings.ReplaceAll(env[k], "{FILE}", file) }
}
