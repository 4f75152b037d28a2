package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/worker"
)

// KV adapts a JetStream bucket to worker.KV, mapping its errors.
type KV struct{ B jetstream.KeyValue }

// Create implements worker.KV.
func (k KV) Create(ctx context.Context, key string, val []byte, ttl time.Duration) (uint64, error) {
	var opts []jetstream.KVCreateOpt
	if ttl > 0 {
		opts = append(opts, jetstream.KeyTTL(ttl))
	}
	rev, err := k.B.Create(ctx, key, val, opts...)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, worker.ErrExists
	}
	return rev, err
}

// Get implements worker.KV.
func (k KV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := k.B.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, worker.ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

// Update implements worker.KV.
func (k KV) Update(ctx context.Context, key string, val []byte, rev uint64) (uint64, error) {
	n, err := k.B.Update(ctx, key, val, rev)
	// On R1 a conflict matches both errors; on R3 only the first (nats.md §4).
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, worker.ErrConflict
	}
	return n, err
}

// Put implements worker.KV.
func (k KV) Put(ctx context.Context, key string, val []byte) (uint64, error) {
	return k.B.Put(ctx, key, val)
}

// Delete implements worker.KV.
func (k KV) Delete(ctx context.Context, key string) error {
	err := k.B.Delete(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return worker.ErrNotFound
	}
	return err
}

// Watch calls apply with every value of the bucket and then every change,
// until ctx ends. ready is closed once the initial values are applied.
func Watch(ctx context.Context, b jetstream.KeyValue, apply func(key string, val []byte, deleted bool), ready chan<- struct{}) error {
	w, err := b.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				if ready != nil {
					close(ready)
					ready = nil
				}
				continue
			}
			op := e.Operation()
			apply(e.Key(), e.Value(), op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge)
		}
	}
}
