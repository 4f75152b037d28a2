package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/worker"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc".
var (
	version = "dev"
	commit  = ""
)

// clientFlags are the flags of the commands that talk to a running worker's NATS.
type clientFlags struct {
	url, prefix string
	timeout     time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("COPYGUARD_NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	prefix := os.Getenv("COPYGUARD_SUBJECT_PREFIX")
	if prefix == "" {
		prefix = "copyguard"
	}
	fs.StringVar(&c.url, "nats-url", def, "NATS server URL(s) [$COPYGUARD_NATS_URL]")
	fs.StringVar(&c.prefix, "subject-prefix", prefix, "subject prefix [$COPYGUARD_SUBJECT_PREFIX]")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "how long to wait for NATS")
}

func (c *clientFlags) connect() (*nats.Conn, jetstream.JetStream, error) {
	opts, err := bus.AuthFromEnv().Options()
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(c.url, append(opts, nats.Name("copyguard cli"), nats.Timeout(c.timeout))...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats at %s: %w (is copyguard run or a nats-server up?)", c.url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// parseFlags parses a command that takes no positional arguments. The
// flag package stops at the first one and ignores the flags after it, so
// "pause now --nats-url X" would go to the default NATS: refuse it.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// splitPositional lets positional arguments come before or after flags.
func splitPositional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runTrigger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copyguard trigger TYPE", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	data := fs.String("data", "{}", "the trigger's data, a JSON object")
	id := fs.String("id", "", "CloudEvent id (default: generated); also the Nats-Msg-Id, so a repeat is dropped")
	source := fs.String("source", "copyguard-cli", "CloudEvent source")
	subject := fs.String("subject", "", "CloudEvent subject")
	pos, err := splitPositional(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: copyguard trigger TYPE --data JSON")
	}
	typ := pos[0]
	if !event.ValidTriggerType(typ) {
		return fmt.Errorf("trigger type %q: want dot-separated words of a-z, 0-9, _ and -", typ)
	}
	// The data goes out as written, not through a map[string]any: that
	// would drop duplicate keys and round integers beyond 2^53, both of
	// which the worker refuses, and DecodeTrigger below must see what the
	// worker will see.
	if !json.Valid([]byte(*data)) {
		return fmt.Errorf("--data: not valid JSON: %s", *data)
	}
	if *id == "" {
		*id = fmt.Sprintf("cli-%d-%d", time.Now().UnixNano(), os.Getpid())
	}
	ev, err := event.New(typ, *source, *id, *subject, time.Now().UTC(), json.RawMessage(*data))
	if err != nil {
		return fmt.Errorf("trigger %s: %w", typ, err)
	}
	// Check the trigger the way the worker will, so a typo fails here.
	if _, _, err := event.DecodeTrigger(ev); err != nil {
		return fmt.Errorf("trigger %s: %w", typ, err)
	}
	body, err := ev.Encode()
	if err != nil {
		return err
	}
	nc, js, err := cf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	subj := bus.NamesFor(cf.prefix).TriggerSubject(typ)
	pctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	ack, err := js.PublishMsg(pctx, &nats.Msg{Subject: subj, Data: body, Header: nats.Header{"Content-Type": []string{"application/cloudevents+json"}}}, jetstream.WithMsgID(*id))
	if err != nil {
		return fmt.Errorf("publish %s: %w (has a copyguard worker created its streams?)", subj, err)
	}
	dup := ""
	if ack.Duplicate {
		dup = " (duplicate id: dropped by the stream)"
	}
	fmt.Fprintf(stdout, "published %s id=%s to %s, stream %s seq %d%s\n", typ, *id, subj, ack.Stream, ack.Sequence, dup)
	return nil
}

func runPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return setPause(ctx, args, true, stdout, stderr)
}

func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return setPause(ctx, args, false, stdout, stderr)
}

func setPause(ctx context.Context, args []string, paused bool, stdout, stderr io.Writer) error {
	name := map[bool]string{true: "pause", false: "resume"}[paused]
	fs := flag.NewFlagSet("copyguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	reason := fs.String("reason", "", "why (shown in held results)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	nc, js, err := cf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	bucket := bus.NamesFor(cf.prefix).ControlBucket
	kv, err := js.KeyValue(cctx, bucket)
	if err != nil {
		return fmt.Errorf("%s: bucket %s: %w (has a copyguard worker started?)", name, bucket, err)
	}
	user := os.Getenv("USER")
	if *reason == "" && paused {
		*reason = "paused by " + user
	}
	val, _ := json.Marshal(worker.PauseState{Paused: paused, Reason: *reason, By: user, At: time.Now().UTC()})
	if _, err := kv.Put(cctx, worker.PauseKey, val); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if paused {
		fmt.Fprintf(stdout, "paused: every cancel is now held (%s)\n", *reason)
	} else {
		fmt.Fprintln(stdout, "resumed: cancels go ahead again")
	}
	return nil
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(stdout, "copyguard %s commit %s %s %s/%s\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
