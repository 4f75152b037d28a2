// Package event owns copyguard's wire formats: the CloudEvents 1.0
// envelope (structured JSON mode) and the data of every event the worker
// reads or writes — the built-in triggers (budget.exceeded,
// region.quarantined, region.released, cancel.requested), the inventory
// updates (copy.started, copy.finished) and the output payloads (Result,
// Decision, Rejected).
//
// Decoding is strict because the worker must never act on input it does
// not fully understand (SPEC §7): every rejection is an *Error that names
// the offending attribute or data field and says what was wanted, so the
// text can go straight into a copyguard.rejected event.
//
// # Envelope rules (Decode)
//
//   - The body is at most maxSize bytes (DefaultMaxSize, 64 KiB), valid
//     UTF-8, and one JSON object with no duplicate attribute.
//   - specversion is exactly "1.0"; id (≤256 bytes), source (≤512) and
//     type (≤256) are non-empty strings; subject (≤512) is optional. None
//     may hold control characters.
//   - time, when present, is RFC 3339 and not the zero time.
//   - datacontenttype, when present, is application/json (parameters such
//     as charset allowed); dataschema is an optional string.
//   - data is required and a JSON object; data_base64 is refused.
//   - Any other attribute is an extension: its name is 1-20 lowercase
//     letters or digits, its value a string (≤1024 bytes), a boolean or a
//     32-bit integer; at most 32 of them. Extensions survive Encode.
//
// # Data rules (DecodeTrigger, DecodeCopyStarted, DecodeCopyFinished)
//
//   - No duplicate keys at any depth, at most 32 levels of nesting.
//   - Every number is a float64 (see decodeData); an integer literal that
//     a float64 cannot hold is refused.
//   - Known fields of the wrong JSON type are refused, naming the field
//     (data.scope.tags.env); unknown fields are ignored by the typed
//     payloads and kept in the generic map. A null counts as absent.
//   - Region ids, image ids, resource group ids, tags and currencies follow
//     the formats in fields.go.
//
// The package is pure: it depends on the standard library and on the
// vendor-neutral words of package cloud only. It must not import nats.go,
// the Alibaba SDK, cel-go, or any other copyguard package; the transport
// (bus) and the policy engine (policy) build on it, not the other way round.
package event
