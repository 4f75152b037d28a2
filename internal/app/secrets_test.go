package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/app"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
)

// The three secrets of TestNoSecretLeaks: distinctive, so that a find is
// never a coincidence.
const (
	leakAccessSecret = "AKSECRET-3f9c1d7e5b"
	leakSTSToken     = "STSTOKEN-8a2e6c0d4f"
	leakNATSPassword = "NATSPASS-71b5e93a2c"
)

// secretsIn names the secrets found in b.
func secretsIn(b []byte) []string {
	var found []string
	for _, s := range []string{leakAccessSecret, leakSTSToken, leakNATSPassword} {
		if bytes.Contains(b, []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

// TestNoSecretLeaks (SPEC §12) runs the worker with an access key secret,
// an STS security token and a NATS password, has it cancel a copy, fail
// to cancel another with a credential error, and fail to start twice;
// then searches every log line (all levels), every returned error, the
// /metrics and /readyz bodies, every event in the events stream and the
// JetStream store files: none may hold any of the three.
func TestNoSecretLeaks(t *testing.T) {
	// The scanner finds what it looks for (so a silent scan means
	// something).
	if got := secretsIn([]byte("x" + leakNATSPassword + "x" + leakAccessSecret)); len(got) != 2 {
		t.Fatalf("scanner found %v", got)
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("authorization { user: copyguard, password: $SECRETS_TEST_NATS_PASSWORD }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SECRETS_TEST_NATS_PASSWORD", leakNATSPassword)
	store := filepath.Join(dir, "store")
	w, err := world.New(world.Config{StoreDir: store, NATSConfigFile: conf,
		Sim:         ecssim.Config{Keys: map[string]string{"AKID-secrets": leakAccessSecret}},
		ConnOptions: []nats.Option{nats.UserInfo("copyguard", leakNATSPassword)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)

	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	var errs []error
	base := func(instance string) app.Config {
		c := w.AppConfig(instance)
		c.PolicyPaths = []string{"testdata/policies.yaml"}
		c.QPS, c.Burst = 1000, 50
		c.ECSSecurityToken = leakSTSToken
		c.NATSAuth = bus.Auth{User: "copyguard", Password: leakNATSPassword}
		c.LogLevel = "debug"
		return c
	}

	// Two failed starts: NATS refuses a wrong password; the policy path
	// does not exist.
	bad := base("bad-nats")
	bad.NATSAuth.Password = leakNATSPassword + "-wrong"
	bad.NATSConnectTimeout = time.Second
	if _, err := app.Start(context.Background(), bad, log, nil); err == nil {
		t.Fatal("started with a wrong NATS password")
	} else {
		errs = append(errs, err)
	}
	bad = base("bad-policy")
	bad.PolicyPaths = []string{filepath.Join(dir, "missing.yaml")}
	if _, err := app.Start(context.Background(), bad, log, nil); err == nil {
		t.Fatal("started without policies")
	} else {
		errs = append(errs, err)
	}

	// A running worker, with metrics and health served.
	c := base("secrets")
	c.HTTPAddr = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	a, err := w.StartApp(context.Background(), c, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	// And one with a wrong secret: its calls fail with a credential error.
	wrong := base("wrong-key")
	wrong.ECSAccessKeySecret = leakAccessSecret + "-wrong"
	wrong.ECSAccessKeyID = "AKID-secrets"
	wrong.Regions = []string{"cn-shanghai"} // its start-up probe and listings fail; it reads no trigger
	b, err := w.StartApp(context.Background(), wrong, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "a refused DescribeImages logged", 10*time.Second, func() bool {
		return logs.FilterMessageSnippet("cloud access in cn-shanghai").Len() > 0
	})
	e := &env{t: t, w: w, sim: w.Sim(), nc: w.Conn(), js: w.JetStream(), names: w.Names(), results: map[string][]event.Result{}}
	e.observe()
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-a"})
	e.waitInventory(a, 1)
	e.waitInventory(b, 1)
	e.trigger("cancel.requested", "c-1", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "secrets test"})
	e.waitResult("cn-shanghai", id)
	natstest.WaitFor(t, "/readyz answers", 10*time.Second, func() bool { _, err := http.Get("http://" + a.HTTPAddr + "/readyz"); return err == nil })
	bodies := map[string][]byte{}
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		resp, err := http.Get("http://" + a.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		bodies[path], _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}

	// Every event in the events stream, raw.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := 0
	cons, err := w.JetStream().OrderedConsumer(ctx, w.Names().EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			events++
			if f := secretsIn(m.Data()); len(f) > 0 {
				t.Errorf("event on %s holds %v: %s", m.Subject(), f, m.Data())
			}
			for k, vs := range m.Headers() {
				if f := secretsIn([]byte(k + strings.Join(vs, ","))); len(f) > 0 {
					t.Errorf("event header %s holds %v", k, f)
				}
			}
		}
		if n == 0 {
			break
		}
	}
	if events < 2 {
		t.Errorf("read %d events, want the decision and the result at least", events)
	}

	a.Stop()
	b.Stop()
	for _, err := range errs {
		if f := secretsIn([]byte(err.Error() + fmt.Sprintf("%+v %#v", err, err))); len(f) > 0 {
			t.Errorf("error holds %v: %v", f, err)
		}
	}
	for path, body := range bodies {
		if f := secretsIn(body); len(f) > 0 {
			t.Errorf("%s holds %v", path, f)
		}
	}
	if logs.Len() < 10 {
		t.Errorf("only %d log entries: the scan proves little", logs.Len())
	}
	for _, entry := range logs.All() {
		line := fmt.Sprintf("%s %s %v", entry.Level, entry.Message, entry.ContextMap())
		for _, f := range entry.Context {
			line += fmt.Sprintf(" %+v %v", f, f.Interface)
		}
		if f := secretsIn([]byte(line)); len(f) > 0 {
			t.Errorf("log line holds %v: %s", f, line)
		}
	}

	w.StopNATS() // flush the store
	files := 0
	err = filepath.WalkDir(store, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if f := secretsIn(b); len(f) > 0 {
			t.Errorf("store file %s holds %v", path, f)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Errorf("walk the store: %d files, %v", files, err)
	}
}
