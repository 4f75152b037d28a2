package bus

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures the in-process nats-server that copyguard
// starts when no NATS URL is given.
type EmbeddedConfig struct {
	// Host and Port to listen on. Port 0 means 4222; -1 picks a free port.
	Host string
	Port int
	// StoreDir holds the JetStream file store; it survives restarts.
	StoreDir string
	// SyncAlways fsyncs every write. Without it the store is safe against a
	// process crash (kill -9) but may lose the last two minutes on power loss.
	SyncAlways bool
	// ConfigFile, if set, is a standard nats-server configuration file
	// (accounts, users, permissions, TLS, listen address). Host and Port
	// then apply only where the file sets no listen address; StoreDir only
	// where it sets no JetStream store.
	ConfigFile string
	// Logf, if set, receives the server's notices, warnings and errors,
	// each with its level ("info", "warn", "error").
	Logf func(level, msg string)
}

// StartEmbedded starts a nats-server with JetStream and waits until it
// accepts connections. The caller owns Shutdown.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("start embedded nats: store dir is empty")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = 4222
	}
	opts := &server.Options{}
	if cfg.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(cfg.ConfigFile); err != nil {
			return nil, fmt.Errorf("start embedded nats: %w", err)
		}
	}
	if opts.ServerName == "" {
		opts.ServerName = "copyguard-embedded"
	}
	if opts.Host == "" {
		opts.Host = cfg.Host
	}
	if opts.Port == 0 {
		opts.Port = port
	}
	if opts.StoreDir == "" {
		opts.StoreDir = cfg.StoreDir
	}
	opts.JetStream = true
	opts.SyncAlways = opts.SyncAlways || cfg.SyncAlways
	// The process owns signals; the embedded server must not react to them.
	opts.NoSigs = true
	opts.NoLog = cfg.Logf == nil
	if !isLoopback(opts.Host) && !hasAuth(opts) {
		return nil, fmt.Errorf("start embedded nats: refusing to listen on %s without authentication: anyone who "+
			"reaches it could cancel copies; listen on 127.0.0.1, or give --nats-server-config with users, nkeys, "+
			"accounts or a token", opts.Host)
	}
	cfg.Host, port = opts.Host, opts.Port
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	// The logger is set even without Logf: a port in use reaches us only
	// as the server's Fatalf, and the server then never becomes ready.
	fatal := make(chan string, 1)
	s.SetLoggerV2(serverLogger{logf: cfg.Logf, fatal: fatal}, false, false, false)
	go s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for !s.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-fatal:
			s.Shutdown()
			return nil, fmt.Errorf("start embedded nats on %s:%d: %s", cfg.Host, port, msg)
		default:
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("start embedded nats on %s:%d: not ready after 10s", cfg.Host, port)
		}
	}
	return s, nil
}

// serverLogger passes the server's log on with its level, so that its
// errors (a store out of descriptors, say) are not hidden at debug level,
// and its first fatal error to fatal.
type serverLogger struct {
	logf  func(level, msg string) // nil: the log goes nowhere
	fatal chan<- string
}

func (l serverLogger) log(level, format string, v ...any) {
	if l.logf != nil {
		l.logf(level, fmt.Sprintf(format, v...))
	}
}

func (l serverLogger) Noticef(format string, v ...any) { l.log("info", format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log("warn", format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log("error", format, v...) }
func (l serverLogger) Debugf(string, ...any)           {}
func (l serverLogger) Tracef(string, ...any)           {}

func (l serverLogger) Fatalf(format string, v ...any) {
	l.log("error", format, v...)
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}

// isLoopback reports whether host is a loopback address or name.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hasAuth reports whether the server asks every client for credentials of
// a kind the configuration file can set. A no_auth_user lets anyone in.
func hasAuth(o *server.Options) bool {
	if o.NoAuthUser != "" {
		return false
	}
	return o.Username != "" || o.Authorization != "" || len(o.Users) > 0 || len(o.Nkeys) > 0 ||
		len(o.TrustedOperators) > 0 || len(o.TrustedKeys) > 0 || o.AuthCallout != nil || o.TLSVerify || o.TLSMap
}
