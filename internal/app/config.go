package app

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/worker"
)

// Config is everything copyguard run can be told. Field comments name the
// flag; the config-file key is the flag with "_" for "-", and the
// environment variable is COPYGUARD_ and the key in upper case.
type Config struct {
	PolicyPaths []string // --policy
	NATSURL     string   // --nats-url; empty = embedded server
	DataDir     string   // --data-dir
	NATSHost    string   // --nats-host (embedded)
	// NATSServerConfig is a nats-server configuration file for the
	// embedded server (--nats-server-config): users, accounts, TLS.
	NATSServerConfig string
	// NATSAuth is how run authenticates to NATS (--nats-creds, --nats-nkey,
	// --nats-user, --nats-ca, --nats-cert, --nats-key); NATS_* variables
	// fill what it leaves empty, and are the only way to give a password
	// or a token, which a flag would show in the process list.
	NATSAuth bus.Auth
	// NATSInboxPrefix is the prefix of this worker's reply subjects
	// (--nats-inbox-prefix); empty: nats.go's "_INBOX".
	NATSInboxPrefix string
	NATSPort        int      // --nats-port (embedded; -1 = any free port)
	SubjectPrefix   string   // --subject-prefix
	Regions         []string // --regions
	ECSEndpoint     string   // --ecs-endpoint
	ECSInsecure     bool     // --ecs-insecure
	// ECSInsecureAllowRemote allows --ecs-insecure to a non-loopback
	// endpoint.
	ECSInsecureAllowRemote bool    // --ecs-insecure-allow-remote
	QPS                    float64 // --qps
	Burst                  int     // --burst
	DryRun                 bool    // --dry-run
	HTTPAddr               string  // --http-addr; empty = no HTTP server
	InstanceID             string  // --instance-id
	LogFormat              string  // --log-format json|console
	LogLevel               string  // --log-level

	TriggerWorkers int           // --trigger-workers
	JobWorkers     int           // --job-workers
	MaxAttempts    int           // --max-attempts
	MaxRetryTime   time.Duration // --max-retry-time
	CallTimeout    time.Duration // --call-timeout
	ReconcileEvery time.Duration // --reconcile-every
	RecheckAfter   time.Duration // --recheck-after
	// BreakerThreshold and BreakerProbe: the per-region circuit breaker.
	BreakerThreshold int           // --breaker-threshold
	BreakerProbe     time.Duration // --breaker-probe-every
	ShutdownTimeout  time.Duration // --shutdown-timeout
	MaxBodySize      int           // --max-body-size
	ClaimTTL         time.Duration // --claim-ttl
	EventMaxAge      time.Duration // --event-max-age
	// Byte caps: each work queue, the events stream, each bucket.
	WorkMaxBytes, EventMaxBytes, BucketMaxBytes int64         // --work-max-bytes, --event-max-bytes, --bucket-max-bytes
	Replicas                                    int           // --replicas (JetStream replication of streams and buckets)
	UpdateTopology                              bool          // --update-topology
	TakeoverAfter                               time.Duration // --takeover-after (the consumers' AckWait)

	NATSConnectTimeout time.Duration // --nats-connect-timeout

	// Static ECS credentials, for tests and the demo only: in production
	// the SDK's credential chain is used (ALIBABA_CLOUD_* variables, profile
	// files, ECS RAM role, OIDC). Never read from flags, so a secret does
	// not end up in a process listing.
	ECSAccessKeyID, ECSAccessKeySecret string
	// ECSSecurityToken goes with them for STS credentials (tests only).
	ECSSecurityToken string
}

// Defaults returns the configuration copyguard run starts from. The
// worker's and the topology's knobs take their defaults from
// worker.DefaultConfig and bus.DefaultTopology: each default is written in
// the package that owns it, once.
func Defaults() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "copyguard"
	}
	w, t := worker.DefaultConfig(), bus.DefaultTopology()
	return Config{
		DataDir: "copyguard-data", NATSHost: "127.0.0.1", NATSPort: 4222,
		SubjectPrefix: w.Prefix, QPS: w.QPS, Burst: w.Burst,
		HTTPAddr: "127.0.0.1:9090", InstanceID: fmt.Sprintf("%s-%d", host, os.Getpid()),
		LogFormat: "json", LogLevel: "info",
		TriggerWorkers: 32, JobWorkers: 64, MaxAttempts: w.Retry.MaxAttempts, MaxRetryTime: w.Retry.MaxElapsed,
		CallTimeout: w.CallTimeout, ReconcileEvery: w.ReconcileEvery, RecheckAfter: w.RecheckAfter, ShutdownTimeout: 20 * time.Second,
		MaxBodySize: w.MaxBodySize, ClaimTTL: t.ClaimTTL, EventMaxAge: t.EventMaxAge, Replicas: t.Replicas,
		TakeoverAfter: t.AckWait, NATSConnectTimeout: time.Minute,
		WorkMaxBytes: t.WorkMaxBytes, EventMaxBytes: t.EventMaxBytes, BucketMaxBytes: t.BucketMaxBytes,
		BreakerThreshold: w.BreakerThreshold, BreakerProbe: w.BreakerProbe,
	}
}

// Validate reports every problem at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: "+format, append([]any{flag}, args...)...))
	}
	if len(c.PolicyPaths) == 0 {
		bad("policy", "at least one policy file or directory is required")
	}
	if c.NATSURL == "" && c.DataDir == "" {
		bad("data-dir", "required for the embedded NATS server")
	}
	if c.SubjectPrefix == "" {
		bad("subject-prefix", "empty")
	}
	if c.QPS <= 0 {
		bad("qps", "%v: must be > 0", c.QPS)
	}
	if c.Burst < 1 {
		bad("burst", "%d: must be >= 1", c.Burst)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("log-format", "%q: want json or console", c.LogFormat)
	}
	if c.TriggerWorkers < 1 || c.JobWorkers < 1 {
		bad("trigger-workers/job-workers", "must be >= 1")
	}
	if c.MaxAttempts < 1 {
		bad("max-attempts", "%d: must be >= 1", c.MaxAttempts)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"max-retry-time", c.MaxRetryTime}, {"call-timeout", c.CallTimeout}, {"reconcile-every", c.ReconcileEvery}, {"recheck-after", c.RecheckAfter},
		{"shutdown-timeout", c.ShutdownTimeout}, {"claim-ttl", c.ClaimTTL}, {"event-max-age", c.EventMaxAge},
		{"takeover-after", c.TakeoverAfter}, {"nats-connect-timeout", c.NATSConnectTimeout},
		{"breaker-probe-every", c.BreakerProbe}} {
		if d.v <= 0 {
			bad(d.flag, "%v: must be > 0", d.v)
		}
	}
	for _, b := range []struct {
		flag string
		v    int64
	}{{"work-max-bytes", c.WorkMaxBytes}, {"event-max-bytes", c.EventMaxBytes}, {"bucket-max-bytes", c.BucketMaxBytes}} {
		if b.v < 1<<20 {
			bad(b.flag, "%d: must be at least 1MiB", b.v)
		}
	}
	if c.BreakerThreshold < 1 {
		bad("breaker-threshold", "%d: must be >= 1", c.BreakerThreshold)
	}
	if c.InstanceID == "" {
		bad("instance-id", "empty")
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		bad("replicas", "%d: want 1, 3 or 5", c.Replicas)
	}
	return errors.Join(errs...)
}
