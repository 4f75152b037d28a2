package world

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/internal/app"
)

// AppConfig is a worker configuration pointing at this world: its NATS,
// the simulator over plain HTTP with its key pair, no HTTP endpoints, a
// 5 s shutdown. Callers set the policies and what else they need.
func (w *World) AppConfig(instance string) app.Config {
	c := app.Defaults()
	c.NATSURL = w.NATSURL()
	c.ECSEndpoint, c.ECSInsecure = w.simAddr, true
	c.ECSAccessKeyID, c.ECSAccessKeySecret = w.keyID, w.secret
	c.HTTPAddr, c.InstanceID = "", instance
	c.ShutdownTimeout = 5 * time.Second
	return c
}

// StartApp starts a worker with cfg (see AppConfig); Close stops it, and
// so may the caller, earlier. reg may be nil.
func (w *World) StartApp(ctx context.Context, cfg app.Config, log *zap.Logger, reg *prometheus.Registry) (*app.App, error) {
	a, err := app.Start(ctx, cfg, log, reg)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.apps = append(w.apps, a)
	w.mu.Unlock()
	return a, nil
}

// WritePolicies writes policy files (name → YAML) into a fresh directory
// under Dir and returns it, for app.Config.PolicyPaths.
func (w *World) WritePolicies(files map[string]string) (string, error) {
	dir, err := os.MkdirTemp(w.dir, "policies-")
	if err != nil {
		return "", err
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}
