package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

// Every message id and KV key the worker writes is built here and nowhere
// else. JetStream deduplicates publishes by Nats-Msg-Id and the claims
// bucket serialises replicas by key, so these strings are what makes a
// redelivery, a restart or a second replica harmless. They are also a
// compatibility promise: streams and buckets written by an older worker
// must still deduplicate against a newer one. ids_test.go fixes their
// exact form; change a literal there only together with a migration.
//
// Keys and ids join region and image id with "."; only the CloudEvent
// subject of a result uses cloud.Copy.Key's "/". The two forms differ for
// historical reasons and both are kept as they are.

// copyKey is a copy's key in the claims and copies buckets:
// "<region>.<image id>".
func copyKey(c cloud.Copy) string { return copyKeyOf(c.Region, c.ImageID) }

func copyKeyOf(region, imageID string) string { return region + "." + imageID }

// splitCopyKey undoes copyKey. It splits on the last ".", as image ids
// hold none.
func splitCopyKey(key string) (region, id string, ok bool) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}

// triggerKey names a trigger by its CloudEvents identity (source and id,
// which the spec makes unique together) in 24 hex digits.
func triggerKey(ref event.TriggerRef) string {
	sum := sha256.Sum256([]byte(ref.Source + "\x00" + ref.ID))
	return hex.EncodeToString(sum[:12])
}

// conditionKey is a condition's key in the conditions bucket: one per
// policy and trigger, so a redelivered trigger finds its condition.
func conditionKey(policyName string, ref event.TriggerRef) string {
	sum := sha256.Sum256([]byte(policyName + "\x00" + ref.Source + "\x00" + ref.ID))
	return hex.EncodeToString(sum[:16])
}

// jobMsgID is the id of the job that cancels one claimed copy for one
// trigger: a redelivered trigger queues the same job again, deduplicated.
func jobMsgID(key string, ref event.TriggerRef) string {
	return "job:" + key + ":" + triggerKey(ref)
}

// resultMsgID is a result's id. The outcome is part of it: a retry after
// a crash repeats the outcome stored in the claim and is deduplicated,
// while a different outcome for the same trigger and copy (held while
// paused, then cancelled once the pause is lifted) is a second fact and
// is kept.
func resultMsgID(r event.Result) string {
	return "result:" + copyKeyOf(r.Region, r.ImageID) + ":" + triggerKey(r.Trigger) + ":" + r.Outcome
}

// resultSubject is the CloudEvent subject of a result: the copy, in
// cloud.Copy.Key's form.
func resultSubject(r event.Result) string {
	return cloud.Copy{Region: r.Region, ImageID: r.ImageID}.Key()
}

// decisionMsgID is the id of a trigger's decision.
func decisionMsgID(ref event.TriggerRef) string { return "decision:" + triggerKey(ref) }

// conditionDecisionMsgID is the id of the decision a standing condition
// makes about one copy seen after its trigger.
func conditionDecisionMsgID(ref event.TriggerRef, c cloud.Copy) string {
	return decisionMsgID(ref) + ":" + copyKey(c)
}

// rejectedMsgID names a rejection by the input it rejects, so the same bad
// message redelivered is rejected once.
func rejectedMsgID(subject string, data []byte) string {
	sum := sha256.Sum256(append([]byte(subject+"\x00"), data...))
	return "rejected:" + hex.EncodeToString(sum[:12])
}

// reconcileLeaseKey is the leases bucket key a replica creates to list
// region: "reconcile.<region>".
func reconcileLeaseKey(region string) string { return "reconcile." + region }

// listedKey is the leases bucket key recording region's last complete
// listing and last listing error: "listed.<region>".
func listedKey(region string) string { return "listed." + region }

// limiterKey is the limits bucket key of the fleet's budget for one API
// ("cancel", "describe") in one region: "<api>.<region>".
func limiterKey(api, region string) string { return api + "." + region }

// triggerIDKey is the claims bucket key remembering which content a
// trigger's (source, id) was first used for: "trigger.<trigger key>".
// Its last part is never an image id ("m-..."), so it cannot be taken
// for a copy's claim.
func triggerIDKey(ref event.TriggerRef) string { return "trigger." + triggerKey(ref) }

// IsCopyKey reports whether a key of the claims bucket names a copy's
// claim ("<region>.<image id>"), not a trigger record ("trigger.<hash>").
func IsCopyKey(key string) bool {
	_, id, ok := splitCopyKey(key)
	return ok && strings.HasPrefix(id, "m-")
}

// rateKey is the limits bucket key of a policy's max_rate window:
// "rate.<24 hex digits of the name's hash>" (policy names may hold dots
// and end in one, which a KV key cannot). The value names the policy.
func rateKey(policyName string) string {
	sum := sha256.Sum256([]byte(policyName))
	return "rate." + hex.EncodeToString(sum[:12])
}

// rateGrantID names one cancel in a rate window: the trigger and the copy
// it was decided for, in 24 hex digits.
func rateGrantID(key string, ref event.TriggerRef) string {
	sum := sha256.Sum256([]byte(key + "\x00" + triggerKey(ref)))
	return hex.EncodeToString(sum[:12])
}

// breakerKey is the limits bucket key of a region's circuit breaker:
// "breaker.<region>".
func breakerKey(region string) string { return "breaker." + region }

// heldOpenMsgID is the id of the non-final held result of a cancel held
// while its region's circuit is open: distinct from resultMsgID's "held",
// so that a final held result of the same trigger and copy (a pause
// later) is not taken for a duplicate of it.
func heldOpenMsgID(r event.Result) string { return resultMsgID(r) + ":circuit-open" }
