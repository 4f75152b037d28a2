package world

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
)

// The access key pair the simulator accepts when Config.Sim names none.
const (
	defaultKeyID  = "world-access-key"
	defaultSecret = "world-access-secret"
)

// Config says what differs between worlds. The zero value is a world with
// a default simulator, a temp store and a random NATS port.
type Config struct {
	// Sim configures the simulator. Without Keys it accepts one built-in
	// key pair (see AccessKey).
	Sim ecssim.Config
	// WrapSim, if set, puts a handler in front of the simulator, to watch
	// or time the requests that reach it.
	WrapSim func(http.Handler) http.Handler
	// SimConnState, if set, is the simulator's http.Server.ConnState.
	SimConnState func(net.Conn, http.ConnState)
	// StoreDir holds the JetStream store. Empty: a directory under the
	// world's temp dir, removed by Close.
	StoreDir string
	// ConnName names the world's own NATS connection.
	ConnName string
	// NATSConfigFile, if set, configures the embedded server (users and
	// permissions); ConnOptions then give the world's own connection its
	// credentials.
	NATSConfigFile string
	ConnOptions    []nats.Option
	// NATSURL, if set, is a NATS the world uses instead of starting its
	// own (a test cluster); StopNATS and StartNATS then do nothing.
	NATSURL string
}

// World is a running installation. Its methods are safe for concurrent
// use, except StopNATS, StartNATS and Close.
type World struct {
	dir      string // temp dir, removed by Close
	storeDir string
	natsConf string
	port     int    // the NATS port, kept across StopNATS/StartNATS
	natsURL  string // an external NATS (Config.NATSURL), or empty
	keyID    string
	secret   string

	ns      *server.Server
	sim     *ecssim.Server
	simSrv  *http.Server
	simAddr string
	client  *ecs.Client
	nc      *nats.Conn
	js      jetstream.JetStream
	names   bus.Names

	mu   sync.Mutex
	apps []stopper
}

// stopper is what Close needs of a started app.
type stopper interface{ Stop() }

// New starts NATS, the simulator and the client, and connects to NATS.
// On error it stops what it started.
func New(cfg Config) (w *World, err error) {
	dir, err := os.MkdirTemp("", "copyguard-world-")
	if err != nil {
		return nil, err
	}
	w = &World{dir: dir, storeDir: cfg.StoreDir, natsConf: cfg.NATSConfigFile, port: -1, natsURL: cfg.NATSURL, names: bus.NamesFor(event.DefaultSubjectPrefix)}
	defer func() {
		if err != nil {
			w.Close()
			w = nil
		}
	}()
	if w.storeDir == "" {
		w.storeDir = filepath.Join(dir, "nats")
	}
	if err := w.StartNATS(); err != nil {
		return w, err
	}
	if err := w.startSim(cfg); err != nil {
		return w, err
	}
	w.client, err = ecs.New(ecs.Config{Endpoint: w.simAddr, Insecure: true, AccessKeyID: w.keyID, AccessKeySecret: w.secret})
	if err != nil {
		return w, fmt.Errorf("ecs client: %w", err)
	}
	// Reconnects without end and quickly, so the world's connection
	// outlives a NATS restart (StopNATS, StartNATS).
	opts := append([]nats.Option{nats.Name(cfg.ConnName), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, cfg.ConnOptions...)
	w.nc, err = nats.Connect(w.NATSURL(), opts...)
	if err != nil {
		return w, err
	}
	w.js, err = jetstream.New(w.nc)
	return w, err
}

func (w *World) startSim(cfg Config) error {
	sc := cfg.Sim
	if len(sc.Keys) == 0 {
		sc.Keys = map[string]string{defaultKeyID: defaultSecret}
	}
	for id, secret := range sc.Keys {
		// Any of them will do; with one key there is no choice to make.
		w.keyID, w.secret = id, secret
		break
	}
	w.sim = ecssim.New(sc)
	var h http.Handler = w.sim
	if cfg.WrapSim != nil {
		h = cfg.WrapSim(w.sim)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulator listen: %w", err)
	}
	w.simAddr = ln.Addr().String()
	w.simSrv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ConnState: cfg.SimConnState}
	go func() { _ = w.simSrv.Serve(ln) }()
	return nil
}

// StartNATS starts the embedded server on the world's store, on a random
// port the first time and on the same port after StopNATS.
func (w *World) StartNATS() error {
	if w.natsURL != "" {
		return nil
	}
	if w.ns != nil {
		return errors.New("start nats: already running")
	}
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{Host: "127.0.0.1", Port: w.port, StoreDir: w.storeDir, ConfigFile: w.natsConf})
	if err != nil {
		return err
	}
	w.ns = ns
	w.port = ns.Addr().(*net.TCPAddr).Port
	return nil
}

// StopNATS shuts the embedded server down and waits for it, as a crash or
// a restart of the server would look to its clients.
func (w *World) StopNATS() {
	if w.ns == nil {
		return
	}
	w.ns.Shutdown()
	w.ns.WaitForShutdown()
	w.ns = nil
}

// Close stops the workers started with StartApp (in reverse order), the
// world's connection, NATS, the simulator and the client, and removes
// the temp dir. Calling it twice is fine.
func (w *World) Close() {
	w.mu.Lock()
	apps := w.apps
	w.apps = nil
	w.mu.Unlock()
	for i := len(apps) - 1; i >= 0; i-- {
		apps[i].Stop()
	}
	if w.nc != nil {
		w.nc.Close()
	}
	w.StopNATS()
	if w.simSrv != nil {
		_ = w.simSrv.Close()
	}
	if w.client != nil {
		w.client.Close()
	}
	_ = os.RemoveAll(w.dir)
}

// NATSURL is the embedded server's client URL, or Config.NATSURL.
func (w *World) NATSURL() string {
	if w.natsURL != "" {
		return w.natsURL
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", w.port)
}

// Conn is the world's own NATS connection.
func (w *World) Conn() *nats.Conn { return w.nc }

// JetStream is a JetStream context on Conn.
func (w *World) JetStream() jetstream.JetStream { return w.js }

// Names are the subjects, streams and buckets of the default prefix.
func (w *World) Names() bus.Names { return w.names }

// Sim is the simulator, to seed copies, script answers, set faults and
// count calls.
func (w *World) Sim() *ecssim.Server { return w.sim }

// SimAddr is the simulator's host:port (plain HTTP).
func (w *World) SimAddr() string { return w.simAddr }

// Client is the real ECS client on the real SDK, pointed at the simulator.
func (w *World) Client() *ecs.Client { return w.client }

// AccessKey is the key pair the simulator accepts.
func (w *World) AccessKey() (id, secret string) { return w.keyID, w.secret }

// StoreDir is where the embedded server keeps its JetStream store.
func (w *World) StoreDir() string { return w.storeDir }

// Dir is a scratch directory that Close removes.
func (w *World) Dir() string { return w.dir }
