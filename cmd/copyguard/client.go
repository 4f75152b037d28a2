package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// clientCommand is the part that the commands talking to NATS share:
// the flags that say where the worker's NATS is, their parsing, and the
// connection.
type clientCommand struct {
	fs          *flag.FlagSet
	positional  bool // takes positional arguments, before or after the flags
	url, prefix string
	timeout     time.Duration
	auth        bus.Auth // from flags; NATS_* fill the rest
	inbox       string
	opts        []nats.Option // the command's own, after the shared ones
}

// newClientCommand makes the flag set of a client command with the NATS
// flags; the command adds its own to fs before calling run. timeout is
// the default of --timeout; help receives --help's usage (stdout).
func newClientCommand(name string, positional bool, timeout time.Duration, help io.Writer) *clientCommand {
	c := &clientCommand{fs: flag.NewFlagSet(name, flag.ContinueOnError), positional: positional}
	c.fs.SetOutput(help)
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: %s [flags]\n\n%s.\n\nflags:\n", name, commands()[commandName(name)].summary)
		c.fs.PrintDefaults()
	}
	def := os.Getenv("COPYGUARD_NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	prefix := os.Getenv("COPYGUARD_SUBJECT_PREFIX")
	if prefix == "" {
		prefix = event.DefaultSubjectPrefix
	}
	c.fs.StringVar(&c.url, "nats-url", def, "NATS server URL(s) [$COPYGUARD_NATS_URL]")
	c.fs.StringVar(&c.prefix, "subject-prefix", prefix, "subject prefix [$COPYGUARD_SUBJECT_PREFIX]")
	c.fs.DurationVar(&c.timeout, "timeout", timeout, "how long to wait for NATS")
	c.fs.StringVar(&c.auth.Creds, "nats-creds", "", "NATS credentials file (JWT and seed) [$NATS_CREDS]")
	c.fs.StringVar(&c.auth.NKey, "nats-nkey", "", "NATS nkey seed file [$NATS_NKEY]")
	c.fs.StringVar(&c.auth.User, "nats-user", "", "NATS user; the password only from $NATS_PASSWORD [$NATS_USER]")
	c.fs.StringVar(&c.auth.CA, "nats-ca", "", "CA file to verify the NATS server's TLS certificate [$NATS_CA]")
	c.fs.StringVar(&c.auth.Cert, "nats-cert", "", "TLS client certificate file for NATS [$NATS_CERT]")
	c.fs.StringVar(&c.auth.Key, "nats-key", "", "TLS client key file for NATS [$NATS_KEY]")
	c.fs.StringVar(&c.inbox, "nats-inbox-prefix", os.Getenv("COPYGUARD_NATS_INBOX_PREFIX"), "prefix of reply subjects, for per-role permissions [$COPYGUARD_NATS_INBOX_PREFIX]")
	return c
}

// run parses args, lets check refuse the command before anything
// connects (check may be nil), connects and calls act. -h is not an error.
func (c *clientCommand) run(args []string, check func(pos []string) error, act func(js jetstream.JetStream) error) error {
	var pos []string
	var err error
	if c.positional {
		pos, err = splitPositional(c.fs, args)
	} else {
		err = parseFlags(c.fs, args)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(pos); err != nil {
			return err
		}
	}
	nc, js, err := c.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	return act(js)
}

func (c *clientCommand) connect() (*nats.Conn, jetstream.JetStream, error) {
	auth := c.auth.Or(bus.AuthFromEnv())
	opts, err := auth.Options()
	if err != nil {
		return nil, nil, err
	}
	if c.inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.inbox))
	}
	opts = append(opts, nats.Name("copyguard cli"), nats.Timeout(c.timeout))
	nc, err := nats.Connect(c.url, append(opts, c.opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats at %s with %s: %w (is copyguard run or a nats-server up?)", bus.RedactURL(c.url), auth.Method(), err)
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
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf(fs, "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// splitPositional lets positional arguments come before or after flags.
func splitPositional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
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
	// 15s: a leader election after a lost node can take ~9s (SPEC §10).
	c := newClientCommand("copyguard trigger TYPE", true, 15*time.Second, stdout)
	tf := triggerFlags(c.fs)
	var policies []string
	c.fs.Func("policy", "policy file or directory (repeatable): refuse a type no policy in it acts on", func(v string) error {
		policies = append(policies, v)
		return nil
	})
	var typ string
	var body []byte
	check := func(pos []string) error {
		if len(pos) != 1 {
			return usageErrorf(c.fs, "want one TYPE, got %d (usage: copyguard trigger TYPE --data JSON)", len(pos))
		}
		typ = pos[0]
		if *tf.id == "" {
			*tf.id = fmt.Sprintf("cli-%d-%d", time.Now().UnixNano(), os.Getpid())
		}
		ev, err := tf.build(typ)
		if err != nil {
			return err
		}
		if err := checkListened(typ, policies, stderr); err != nil {
			return err
		}
		body, err = ev.Encode()
		return err
	}
	return c.run(args, check, func(js jetstream.JetStream) error {
		subj := bus.NamesFor(c.prefix).TriggerSubject(typ)
		msg := &nats.Msg{Subject: subj, Data: body, Header: nats.Header{"Content-Type": []string{"application/cloudevents+json"}}}
		ack, err := publishRetrying(ctx, js, msg, *tf.id, c.timeout)
		if err != nil {
			return err
		}
		dup := ""
		if ack.Duplicate {
			dup = " (duplicate id: dropped by the stream)"
		}
		fmt.Fprintf(stdout, "published %s id=%s to %s, stream %s seq %d%s\n", typ, *tf.id, subj, ack.Stream, ack.Sequence, dup)
		return nil
	})
}

// triggerOpts are the flags that describe a trigger, shared by trigger
// and plan.
type triggerOpts struct {
	data, id, source, subject *string
}

func triggerFlags(fs *flag.FlagSet) triggerOpts {
	return triggerOpts{
		data:    fs.String("data", "{}", "the trigger's data, a JSON object"),
		id:      fs.String("id", "", "CloudEvent id (default: generated); also the Nats-Msg-Id, so a repeat is dropped"),
		source:  fs.String("source", "copyguard-cli", "CloudEvent source"),
		subject: fs.String("subject", "", "CloudEvent subject"),
	}
}

// build makes the trigger event and checks it the way the worker will,
// so that a mistake fails here.
func (o triggerOpts) build(typ string) (*event.Event, error) {
	if !event.ValidTriggerType(typ) {
		return nil, fmt.Errorf("trigger type %q: want dot-separated words of a-z, 0-9, _ and -", typ)
	}
	// The data goes out as written, not through a map[string]any: that
	// would drop duplicate keys and round integers beyond 2^53, both of
	// which the worker refuses, and DecodeTrigger below must see what the
	// worker will see.
	if !json.Valid([]byte(*o.data)) {
		return nil, fmt.Errorf("--data: not valid JSON: %s", *o.data)
	}
	ev, err := event.New(typ, *o.source, *o.id, *o.subject, time.Now().UTC(), json.RawMessage(*o.data))
	if err != nil {
		return nil, fmt.Errorf("trigger %s: %w", typ, err)
	}
	if _, _, err := event.DecodeTrigger(ev); err != nil {
		return nil, fmt.Errorf("trigger %s: %w", typ, err)
	}
	return ev, nil
}

// checkListened helps with a trigger type nothing will act on. Without
// policies it can only compare with the built-in types: a type that is
// not one of them is allowed (policies may listen to it) but said to be
// so, with the nearest built-in type. With policies, a type that no
// enabled cancel policy listens to and that releases no condition is
// refused, with the nearest type they do act on.
func checkListened(typ string, paths []string, stderr io.Writer) error {
	builtin := policy.BuiltinTypes()
	if len(paths) == 0 {
		if !slices.Contains(builtin, typ) {
			fmt.Fprintf(stderr, "copyguard: trigger type %q is not built in%s; it is acted on only if a policy listens to it (check with --policy PATH)\n",
				typ, didYouMean(typ, builtin))
		}
		return nil
	}
	set, err := policy.Load(paths...)
	if err != nil {
		return fmt.Errorf("--policy:\n%w", err)
	}
	var known []string
	for _, p := range set.Policies() {
		if p.ReleasedBy != "" {
			if p.ReleasedBy == typ {
				return nil
			}
			known = append(known, p.ReleasedBy)
		}
		if !p.Enabled || p.Action != policy.ActionCancel {
			continue
		}
		if p.Listens(typ) {
			return nil
		}
		known = append(known, p.On...)
	}
	known = slices.DeleteFunc(append(known, builtin...), func(k string) bool { return k == typ })
	return fmt.Errorf("trigger type %q: no enabled cancel policy in %s listens to it, and it releases no condition%s; not published",
		typ, strings.Join(paths, ", "), didYouMean(typ, slices.Compact(known)))
}

// publishAttemptTimeout bounds one publish attempt, so an attempt that
// met an election does not use up the whole --timeout.
const publishAttemptTimeout = 2 * time.Second

// publishRetrying publishes msg with id as its Nats-Msg-Id, and publishes
// it again while no stream answers (no stream yet, or its leader is being
// elected), for up to timeout. The id makes a repeat harmless: a stream
// that stored an earlier attempt drops the later ones as duplicates.
func publishRetrying(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, id string, timeout time.Duration) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	wait := 100 * time.Millisecond
	for {
		actx, acancel := context.WithTimeout(ctx, publishAttemptTimeout)
		ack, err := js.PublishMsg(actx, msg, jetstream.WithMsgID(id))
		acancel()
		if err == nil {
			return ack, nil
		}
		if !noStreamAnswer(err) {
			return nil, fmt.Errorf("publish %s: %w", msg.Subject, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("publish %s: no stream answered in %v (%w): either no copyguard worker has created "+
				"its streams on this NATS yet (start copyguard run once; check --subject-prefix), or the cluster is "+
				"electing a stream leader and needs longer (raise --timeout)", msg.Subject, time.Since(start).Round(100*time.Millisecond), err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// noStreamAnswer is a publish that reached no stream leader: worth
// another try while an election may be going on.
func noStreamAnswer(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}
