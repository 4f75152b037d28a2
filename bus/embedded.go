package bus

import (
	"errors"
	"fmt"
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
	// Logf, if set, receives the server's notices and errors.
	Logf func(format string, args ...any)
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
	opts := &server.Options{
		ServerName: "copyguard-embedded",
		Host:       cfg.Host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: cfg.SyncAlways,
		// The process owns signals; the embedded server must not react to them.
		NoSigs: true,
		NoLog:  cfg.Logf == nil,
	}
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

// serverLogger passes the server's notices to logf (if set) and its
// first fatal error to fatal.
type serverLogger struct {
	logf  func(string, ...any)
	fatal chan<- string
}

func (l serverLogger) log(format string, v ...any) {
	if l.logf != nil {
		l.logf(format, v...)
	}
}

func (l serverLogger) Noticef(format string, v ...any) { l.log("nats: "+format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log("nats warning: "+format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log("nats error: "+format, v...) }
func (l serverLogger) Debugf(string, ...any)           {}
func (l serverLogger) Tracef(string, ...any)           {}

func (l serverLogger) Fatalf(format string, v ...any) {
	l.log("nats fatal: "+format, v...)
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}
