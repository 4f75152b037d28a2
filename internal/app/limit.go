package app

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// httpMaxConns caps the connections the metrics and health listener holds
// at once. Prometheus and the kubelet need a handful; the cap keeps a
// client that opens thousands from taking the descriptors the embedded
// NATS server shares with this process.
const httpMaxConns = 64

// limitListener accepts at most cap connections at once; Accept waits for
// a free slot (the others wait in the kernel's backlog). So that idle
// keep-alive connections cannot hold every slot and starve a probe, the
// server's keep-alives are turned off, which closes its idle connections,
// whenever every slot is taken, and turned on again once half are free.
// (golang.org/x/net/netutil.LimitListener is not in the module graph and
// has no such relief.)
type limitListener struct {
	net.Listener
	sem       chan struct{}
	srv       *http.Server
	relieving atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, limit int, srv *http.Server) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, limit), srv: srv, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		if l.relieving.CompareAndSwap(false, true) {
			l.srv.SetKeepAlivesEnabled(false) // closes the idle connections
		}
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		return nil, err
	}
	return &limitConn{Conn: c, l: l}, nil
}

func (l *limitListener) release() {
	<-l.sem
	if len(l.sem) <= cap(l.sem)/2 && l.relieving.CompareAndSwap(true, false) {
		l.srv.SetKeepAlivesEnabled(true)
	}
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn frees its slot once, however often it is closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}
