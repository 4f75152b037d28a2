package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/copyguard/copyguard/internal/app"
)

// setting is one knob of copyguard run: a flag, a config-file key (the
// flag with "_" for "-") and a COPYGUARD_ variable. Precedence, lowest
// first: default, config file, environment, flag.
type setting struct {
	name, help string
	set        func(string) error
	list       bool // repeatable flag / YAML list / comma list
	boolean    bool
	show       func() string
}

func (s setting) key() string { return strings.ReplaceAll(s.name, "-", "_") }
func (s setting) env() string { return "COPYGUARD_" + strings.ToUpper(s.key()) }

func str(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
func list(p *[]string) func(string) error {
	return func(v string) error {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p = append(*p, s)
			}
		}
		return nil
	}
}
func integer(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
		return nil
	}
}

// byteUnits are the suffixes byteSize takes, largest first.
var byteUnits = []struct {
	suffix string
	n      int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}

// byteSize takes a whole number of bytes, or of KiB, MiB, GiB or TiB.
func byteSize(p *int64) func(string) error {
	return func(v string) error {
		for _, u := range byteUnits {
			num, ok := strings.CutSuffix(v, u.suffix)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/u.n {
				break
			}
			*p = n * u.n
			return nil
		}
		return fmt.Errorf("%q is not a size: want bytes, or a whole number of KiB, MiB, GiB or TiB", v)
	}
}

func formatBytes(n int64) string {
	for _, u := range byteUnits[:4] {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func float(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*p = f
		return nil
	}
}
func boolean(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = b
		return nil
	}
}
func duration(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s, 5m, 2h)", v)
		}
		*p = d
		return nil
	}
}

func settings(c *app.Config) []setting {
	s := func(name, help string, set func(string) error, show func() string) setting {
		return setting{name: name, help: help, set: set, show: show}
	}
	return []setting{
		{name: "policy", help: "policy file or directory (repeatable)", set: list(&c.PolicyPaths), list: true, show: func() string { return strings.Join(c.PolicyPaths, ",") }},
		s("nats-url", "NATS server URL(s), comma separated; empty starts an embedded server", str(&c.NATSURL), func() string { return c.NATSURL }),
		s("data-dir", "embedded NATS server's JetStream store", str(&c.DataDir), func() string { return c.DataDir }),
		s("nats-host", "embedded NATS server's listen host (not loopback: needs authentication from --nats-server-config)", str(&c.NATSHost), func() string { return c.NATSHost }),
		s("nats-creds", "NATS credentials file (JWT and seed) [$NATS_CREDS]", str(&c.NATSAuth.Creds), func() string { return c.NATSAuth.Creds }),
		s("nats-nkey", "NATS nkey seed file [$NATS_NKEY]", str(&c.NATSAuth.NKey), func() string { return c.NATSAuth.NKey }),
		s("nats-user", "NATS user; the password only from $NATS_PASSWORD [$NATS_USER]", str(&c.NATSAuth.User), func() string { return c.NATSAuth.User }),
		s("nats-ca", "CA file to verify the NATS server's TLS certificate [$NATS_CA]", str(&c.NATSAuth.CA), func() string { return c.NATSAuth.CA }),
		s("nats-cert", "TLS client certificate file for NATS [$NATS_CERT]", str(&c.NATSAuth.Cert), func() string { return c.NATSAuth.Cert }),
		s("nats-key", "TLS client key file for NATS [$NATS_KEY]", str(&c.NATSAuth.Key), func() string { return c.NATSAuth.Key }),
		s("nats-inbox-prefix", "prefix of this worker's NATS reply subjects, for per-role permissions (default _INBOX)", str(&c.NATSInboxPrefix), func() string { return c.NATSInboxPrefix }),
		s("nats-server-config", "nats-server configuration file for the embedded server (users, accounts, permissions, TLS)", str(&c.NATSServerConfig), func() string { return c.NATSServerConfig }),
		s("nats-port", "embedded NATS server's port (-1: any free port)", integer(&c.NATSPort), func() string { return strconv.Itoa(c.NATSPort) }),
		s("subject-prefix", "prefix of every subject, stream and bucket", str(&c.SubjectPrefix), func() string { return c.SubjectPrefix }),
		{name: "regions", help: "regions whose copies are discovered with DescribeImages, comma separated", set: list(&c.Regions), list: true, show: func() string { return strings.Join(c.Regions, ",") }},
		s("ecs-endpoint", "override the ECS endpoint, host[:port] (or http://host[:port] with --ecs-insecure), for all regions", str(&c.ECSEndpoint), func() string { return c.ECSEndpoint }),
		{name: "ecs-insecure", help: "allow plain HTTP to a loopback ECS endpoint (simulator, tests)", set: boolean(&c.ECSInsecure), boolean: true, show: func() string { return strconv.FormatBool(c.ECSInsecure) }},
		{name: "ecs-insecure-allow-remote", help: "allow --ecs-insecure to a non-loopback endpoint (signed requests then cross the network in clear)", set: boolean(&c.ECSInsecureAllowRemote), boolean: true, show: func() string { return strconv.FormatBool(c.ECSInsecureAllowRemote) }},
		s("qps", "API calls per second per region for the whole fleet (CancelCopyImage; DescribeImages separately)", float(&c.QPS), func() string { return fmt.Sprint(c.QPS) }),
		s("burst", "calls per region the fleet may make at once after a quiet spell", integer(&c.Burst), func() string { return strconv.Itoa(c.Burst) }),
		{name: "dry-run", help: "plan only, never cancel", set: boolean(&c.DryRun), boolean: true, show: func() string { return strconv.FormatBool(c.DryRun) }},
		s("http-addr", "metrics and health address (empty: off)", str(&c.HTTPAddr), func() string { return c.HTTPAddr }),
		s("instance-id", "name of this replica in results", str(&c.InstanceID), func() string { return c.InstanceID }),
		s("log-format", "json or console", str(&c.LogFormat), func() string { return c.LogFormat }),
		s("log-level", "debug, info, warn or error", str(&c.LogLevel), func() string { return c.LogLevel }),
		s("trigger-workers", "triggers decided at once", integer(&c.TriggerWorkers), func() string { return strconv.Itoa(c.TriggerWorkers) }),
		s("job-workers", "copies acted on at once", integer(&c.JobWorkers), func() string { return strconv.Itoa(c.JobWorkers) }),
		s("max-attempts", "CancelCopyImage attempts per copy", integer(&c.MaxAttempts), func() string { return strconv.Itoa(c.MaxAttempts) }),
		s("max-retry-time", "total time to keep retrying one copy", duration(&c.MaxRetryTime), func() string { return c.MaxRetryTime.String() }),
		s("call-timeout", "timeout of one CancelCopyImage call", duration(&c.CallTimeout), func() string { return c.CallTimeout.String() }),
		s("reconcile-every", "DescribeImages inventory reconcile interval", duration(&c.ReconcileEvery), func() string { return c.ReconcileEvery.String() }),
		s("recheck-after", "re-read a copy before its cancel when last observed longer ago than this", duration(&c.RecheckAfter), func() string { return c.RecheckAfter.String() }),
		s("breaker-threshold", "consecutive credential errors in a region (fleet-wide) that open its circuit breaker", integer(&c.BreakerThreshold), func() string { return strconv.Itoa(c.BreakerThreshold) }),
		s("breaker-probe-every", "how often an open circuit breaker probes its region (DescribeImages, PageSize=1)", duration(&c.BreakerProbe), func() string { return c.BreakerProbe.String() }),
		s("shutdown-timeout", "how long SIGTERM waits for in-flight work", duration(&c.ShutdownTimeout), func() string { return c.ShutdownTimeout.String() }),
		s("max-body-size", "largest accepted input event, bytes", integer(&c.MaxBodySize), func() string { return strconv.Itoa(c.MaxBodySize) }),
		s("claim-ttl", "how long a copy's claim is remembered", duration(&c.ClaimTTL), func() string { return c.ClaimTTL.String() }),
		s("event-max-age", "how long decisions and results are kept", duration(&c.EventMaxAge), func() string { return c.EventMaxAge.String() }),
		s("work-max-bytes", "byte cap of each work queue (triggers, inventory, jobs), e.g. 256MiB", byteSize(&c.WorkMaxBytes), func() string { return formatBytes(c.WorkMaxBytes) }),
		s("event-max-bytes", "byte cap of the events stream (oldest events go first), e.g. 2GiB", byteSize(&c.EventMaxBytes), func() string { return formatBytes(c.EventMaxBytes) }),
		s("bucket-max-bytes", "byte cap of each KV bucket, e.g. 256MiB", byteSize(&c.BucketMaxBytes), func() string { return formatBytes(c.BucketMaxBytes) }),
		s("replicas", "JetStream replication factor of streams and buckets (1, 3, 5); not the number of workers", integer(&c.Replicas), func() string { return strconv.Itoa(c.Replicas) }),
		{name: "update-topology", help: "apply this replica's stream, consumer and bucket settings where NATS holds others (default: refuse to start)", set: boolean(&c.UpdateTopology), boolean: true, show: func() string { return strconv.FormatBool(c.UpdateTopology) }},
		s("takeover-after", "how soon work held by a dead replica goes to another (the consumers' ack wait)", duration(&c.TakeoverAfter), func() string { return c.TakeoverAfter.String() }),
		s("nats-connect-timeout", "how long to keep trying to reach NATS at start", duration(&c.NATSConnectTimeout), func() string { return c.NATSConnectTimeout.String() }),
	}
}

// flagValue lets a setting be a flag. It only records what was given:
// the values are applied after the file and the environment, so that a
// bad flag value is reported together with every other problem instead of
// stopping the parse with a page of usage.
type flagValue struct {
	s    setting
	def  string   // the default, for -h
	vals []string // as given, in order
}

func (f *flagValue) String() string {
	if f == nil {
		return ""
	}
	if len(f.vals) == 0 {
		return f.def
	}
	return strings.Join(f.vals, ",")
}

func (f *flagValue) Set(v string) error {
	if !f.s.list {
		f.vals = f.vals[:0]
	}
	f.vals = append(f.vals, v)
	return nil
}

func (f *flagValue) IsBoolFlag() bool { return f.s.boolean }

// errUsage marks a command line the flag package could not parse: every
// *usageError is one.
var errUsage = errors.New("usage")

// Is makes errors.Is(err, errUsage) true of a usage error.
func (e *usageError) Is(target error) bool { return target == errUsage }

// loadConfig builds the run configuration from defaults, --config FILE,
// COPYGUARD_* variables and flags, and reports every problem at once:
// unreadable values from any layer and the problems Validate finds.
// help receives the usage for -h.
func loadConfig(args []string, getenv func(string) string, help io.Writer) (app.Config, error) {
	cfg := app.Defaults()
	fs := flag.NewFlagSet("copyguard run", flag.ContinueOnError)
	fs.SetOutput(help)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: copyguard run --policy PATH [flags]\n\n%s: consume triggers from NATS, decide with the policies, cancel copies.\n"+
			"Each flag is also a key of the --config file (with _ for -) and a COPYGUARD_ variable;\n"+
			"precedence, lowest first: default, config file, environment, flag.\n\nflags:\n", commands()["run"].summary)
		fs.PrintDefaults()
	}
	configFile := fs.String("config", "", "YAML config file (keys are the flag names with _ for -) [$COPYGUARD_CONFIG]")
	defaults := app.Defaults()
	target := settings(&cfg)
	given := make([]*flagValue, len(target))
	for i, s := range settings(&defaults) {
		def := s.show()
		if s.boolean && def == "false" {
			def = "" // -h prints no "(default false)"
		}
		given[i] = &flagValue{s: target[i], def: def}
		fs.Var(given[i], s.name, s.help+" [$"+s.env()+"]")
	}
	if err := parse(fs, args); err != nil {
		return cfg, err // flag.ErrHelp, or a *usageError
	}
	if fs.NArg() > 0 {
		return cfg, usageErrorf(fs, "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *configFile == "" {
		*configFile = getenv("COPYGUARD_CONFIG")
	}
	var errs []error
	if *configFile != "" {
		errs = append(errs, applyFile(*configFile, target)...)
	}
	for _, s := range target {
		if v := getenv(s.env()); v != "" {
			if s.list {
				s.reset(&cfg)
			}
			if err := s.set(v); err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", s.env(), err))
			}
		}
	}
	for _, f := range given {
		if len(f.vals) == 0 {
			continue
		}
		if f.s.list {
			f.s.reset(&cfg)
		}
		for _, v := range f.vals {
			if err := f.s.set(v); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", f.s.name, err))
			}
		}
	}
	// A value that could not be read left the lower layer's value in
	// place, so Validate does not report it a second time.
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// reset empties a list setting, so a higher layer replaces a lower one
// instead of adding to it.
func (s setting) reset(c *app.Config) {
	switch s.name {
	case "policy":
		c.PolicyPaths = nil
	case "regions":
		c.Regions = nil
	}
}

func applyFile(path string, target []setting) []error {
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("--config: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return []error{fmt.Errorf("%s:%d:%d: want a mapping of settings", path, root.Line, root.Column)}
	}
	byKey := map[string]setting{}
	keys := make([]string, 0, len(target))
	for _, s := range target {
		byKey[s.key()] = s
		keys = append(keys, s.key())
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s, ok := byKey[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d:%d: unknown setting %q%s", path, k.Line, k.Column, k.Value, didYouMean(k.Value, keys)))
			continue
		}
		vals := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			if !s.list {
				errs = append(errs, fmt.Errorf("%s:%d:%d: %s: want a single value, not a list", path, v.Line, v.Column, k.Value))
				continue
			}
			vals = v.Content
		}
		for _, n := range vals {
			if n.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Errorf("%s:%d:%d: %s: want a scalar value", path, n.Line, n.Column, k.Value))
				continue
			}
			if err := s.set(n.Value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d:%d: %s: %w", path, n.Line, n.Column, k.Value, err))
			}
		}
	}
	return errs
}
