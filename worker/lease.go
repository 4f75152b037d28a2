package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// One listing per region (SPEC §10). The leases bucket holds two keys
// per region:
//
//	reconcile.<region>  {"by", "until"}  the reconcile lease. A replica
//	                    lists the region only if it creates this key (or
//	                    takes over one whose until has passed). TTL and
//	                    until are leaseTTL: 90 % of ReconcileEvery, so the
//	                    holder's own next round finds it free again (one
//	                    listing per round for the fleet, whoever ticks
//	                    first), and a listing never runs longer than that.
//	                    The winner keeps it after a complete listing: the
//	                    other replicas' rounds in the same period skip the
//	                    region. After a failed listing it deletes it, so a
//	                    replica that cannot list (its credentials are bad)
//	                    does not starve the region: the next replica to
//	                    tick tries.
//	listed.<region>     {"at", "by", "error", "error_at", "permanent"}
//	                    the last complete listing (its end) and the last
//	                    listing error, written by whoever listed; no TTL.
//	                    Every replica reads it for its readiness.
//
// The until in the value, not only the key's TTL, decides expiry: an
// Update (the takeover) drops a per-key TTL in JetStream, and a bucket
// without per-key TTL must not hold the lease for ever.

// leaseTTL is how long a reconcile lease lasts, and so the longest a
// listing with its retries may run.
func leaseTTL(every time.Duration) time.Duration { return every - every/10 }

// minKeyTTL is the shortest per-key TTL JetStream accepts.
const minKeyTTL = time.Second

// readyWithin is how recent a region's last complete listing must be for
// the inventory to count as ready: two rounds, so one missed round (a
// replica died holding the lease) does not flap readiness.
func readyWithin(every time.Duration) time.Duration { return 2 * every }

// removedKeep is how long removals are remembered: longer than any
// listing (leaseTTL) that may have started before them.
func removedKeep(every time.Duration) time.Duration { return max(15*time.Minute, 2*every) }

// lease is the value of a reconcile lease.
type lease struct {
	By    string    `json:"by"`
	Until time.Time `json:"until"`
}

// acquireLease reports whether this replica may list region this round.
// Without a leases bucket it always may.
func (i *inventory) acquireLease(ctx context.Context, region string, now time.Time) (bool, error) {
	if i.cfg.Leases == nil {
		return true, nil
	}
	key := reconcileLeaseKey(region)
	ttl := leaseTTL(i.cfg.ReconcileEvery)
	val, _ := json.Marshal(lease{By: i.cfg.Instance, Until: now.Add(ttl)})
	// The key's TTL only cleans up; until decides. JetStream refuses a
	// per-message TTL under a second, which a short --reconcile-every
	// would ask for.
	keyTTL := max(ttl, minKeyTTL)
	for range 3 {
		_, err := i.cfg.Leases.Create(ctx, key, val, keyTTL)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrExists) {
			return false, fmt.Errorf("take lease %s: %w", key, err)
		}
		old, rev, err := i.cfg.Leases.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue // expired between the two calls
		}
		if err != nil {
			return false, fmt.Errorf("read lease %s: %w", key, err)
		}
		var l lease
		if json.Unmarshal(old, &l) == nil && now.Before(l.Until) {
			return false, nil
		}
		_, err = i.cfg.Leases.Update(ctx, key, val, rev)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			return false, nil // another replica took it over first
		default:
			return false, fmt.Errorf("take over lease %s: %w", key, err)
		}
	}
	return false, nil
}

// releaseLease gives a lease up after a failed listing.
func (i *inventory) releaseLease(ctx context.Context, region string) error {
	if i.cfg.Leases == nil {
		return nil
	}
	if err := i.cfg.Leases.Delete(ctx, reconcileLeaseKey(region)); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("release lease %s: %w", reconcileLeaseKey(region), err)
	}
	return nil
}

// RegionListing is what the fleet knows of a region's listings: the last
// complete one (by any replica) and the last error.
type RegionListing struct {
	Region     string    `json:"region"`
	LastListed time.Time `json:"last_listed,omitzero"`
	ListedBy   string    `json:"listed_by,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	ErrorAt    time.Time `json:"error_at,omitzero"`
	// Permanent: the last error cannot heal by retrying (bad credentials,
	// an unknown region), so the region's cloud access is broken.
	Permanent bool `json:"permanent,omitempty"`
}

// listingRecord is the value of listed.<region>.
type listingRecord struct {
	At        time.Time `json:"at,omitzero"`
	By        string    `json:"by,omitempty"`
	Error     string    `json:"error,omitempty"`
	ErrorAt   time.Time `json:"error_at,omitzero"`
	Permanent bool      `json:"permanent,omitempty"`
}

// listings caches the region records this replica last read or wrote.
type listings struct {
	mu      sync.Mutex
	regions []string
	recs    map[string]listingRecord
}

func newListings(regions []string) listings {
	return listings{regions: slices.Clone(regions), recs: map[string]listingRecord{}}
}

func (l *listings) get(region string) listingRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recs[region]
}

// set merges rec into the cache: the latest listing and the latest
// error win, and a complete listing after an error clears it.
func (l *listings) set(region string, rec listingRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.recs[region]
	if old.At.After(rec.At) {
		rec.At, rec.By = old.At, old.By
	}
	if old.ErrorAt.After(rec.ErrorAt) {
		rec.Error, rec.ErrorAt, rec.Permanent = old.Error, old.ErrorAt, old.Permanent
	}
	if !rec.ErrorAt.After(rec.At) {
		rec.Error, rec.ErrorAt, rec.Permanent = "", time.Time{}, false
	}
	l.recs[region] = rec
}

// recordListing writes the outcome of this replica's listing of region:
// its end when listErr is nil, else the error (keeping the last good
// listing).
func (i *inventory) recordListing(ctx context.Context, region string, listErr error) error {
	now := i.cfg.Now()
	rec := i.listings.get(region)
	if i.cfg.Leases != nil {
		if stored, err := i.readRecord(ctx, region); err == nil {
			rec = stored
		}
	}
	if listErr == nil {
		rec = listingRecord{At: now, By: i.cfg.Instance}
	} else {
		class, _ := cloud.Classify(listErr)
		rec.Error, rec.ErrorAt, rec.Permanent = listErr.Error(), now, class == cloud.ClassPermanent
	}
	i.listings.set(region, rec)
	if i.cfg.Leases == nil {
		return nil
	}
	val, _ := json.Marshal(rec)
	if _, err := i.cfg.Leases.Put(ctx, listedKey(region), val); err != nil {
		return fmt.Errorf("record listing %s: %w", listedKey(region), err)
	}
	return nil
}

// readRecord reads region's record from the leases bucket and caches it.
func (i *inventory) readRecord(ctx context.Context, region string) (listingRecord, error) {
	val, _, err := i.cfg.Leases.Get(ctx, listedKey(region))
	if errors.Is(err, ErrNotFound) {
		return listingRecord{}, nil
	}
	if err != nil {
		return listingRecord{}, fmt.Errorf("read %s: %w", listedKey(region), err)
	}
	var rec listingRecord
	if err := json.Unmarshal(val, &rec); err != nil {
		return listingRecord{}, fmt.Errorf("read %s: %w", listedKey(region), err)
	}
	i.listings.set(region, rec)
	return i.listings.get(region), nil
}

// InventoryReady reports whether every configured region has a complete
// listing, by any replica, within readyWithin of now; the error names
// the regions still missing. Regions not fresh in this replica's cache
// are read from the leases bucket. Without regions or a Lister the
// inventory is ready at once.
func (i *inventory) InventoryReady(ctx context.Context, now time.Time) error {
	if i.cfg.Lister == nil || len(i.cfg.Regions) == 0 {
		return nil
	}
	within := readyWithin(i.cfg.ReconcileEvery)
	fresh := func(rec listingRecord) bool { return !rec.At.IsZero() && now.Sub(rec.At) <= within }
	var never, stale, readErrs []string
	for _, region := range i.cfg.Regions {
		rec := i.listings.get(region)
		if !fresh(rec) && i.cfg.Leases != nil {
			var err error
			if rec, err = i.readRecord(ctx, region); err != nil {
				readErrs = append(readErrs, err.Error())
			}
		}
		switch {
		case rec.At.IsZero():
			never = append(never, region)
		case !fresh(rec):
			stale = append(stale, region)
		}
	}
	if len(never)+len(stale) == 0 {
		return nil
	}
	var parts []string
	if len(never) > 0 {
		parts = append(parts, "never listed completely: "+strings.Join(never, ", "))
	}
	if len(stale) > 0 {
		parts = append(parts, fmt.Sprintf("no complete listing in the last %s: %s", within, strings.Join(stale, ", ")))
	}
	msg := "inventory not ready: " + strings.Join(parts, "; ")
	if len(readErrs) > 0 {
		msg += " (" + strings.Join(readErrs, "; ") + ")"
	}
	return errors.New(msg)
}

// Listings returns what this replica last knew of each configured
// region's listings, in the order of Config.Regions. It does no I/O: the
// records are refreshed by every reconcile round and by InventoryReady.
func (i *inventory) Listings() []RegionListing {
	out := make([]RegionListing, 0, len(i.listings.regions))
	for _, region := range i.listings.regions {
		rec := i.listings.get(region)
		out = append(out, RegionListing{Region: region, LastListed: rec.At, ListedBy: rec.By,
			LastError: rec.Error, ErrorAt: rec.ErrorAt, Permanent: rec.Permanent})
	}
	return out
}
