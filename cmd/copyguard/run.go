package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/copyguard/copyguard/internal/app"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if errors.Is(err, errUsage) {
		return exitError(2) // the flag package has already explained
	}
	if err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	log, err := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	a, err := app.Start(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil && ctx.Err() != nil {
		// SIGTERM while starting: what was started is stopped again, and
		// a requested stop is not a failure.
		log.Info("signal received while starting; stopped", zap.Error(err))
		return nil
	}
	if err != nil {
		return err
	}
	// SIGHUP reloads the policies; a file with errors is refused and the
	// running set stays.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for stop := false; !stop; {
		select {
		case <-hup:
			if err := a.Reload(); err != nil {
				log.Error("policy reload refused; keeping the running policies", zap.Error(err))
			}
		case <-ctx.Done():
			log.Info("signal received; stopping", zap.Duration("timeout", cfg.ShutdownTimeout))
			stop = true
		case err = <-a.Err():
			log.Error("worker failed; stopping", zap.Error(err))
			stop = true
		}
	}
	a.Stop()
	return err
}

func newLogger(format, level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	// "timeout":"20s", not a bare 20 whose unit the reader must guess.
	ec.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if format == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}
