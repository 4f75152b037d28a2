// Package ecssim is a local HTTP implementation of the parts of the Alibaba
// Cloud ECS RPC API (version 2014-05-26) that copyguard uses: CopyImage,
// DescribeImages and CancelCopyImage.
//
// It owns the wire format as the real service speaks it (see
// /work/shared/ecs-api.md §5 and §7): parameters in the URL query and an
// optional form body, HMAC-SHA1 signature verification with nonce and
// timestamp checks, JSON answers whose error bodies carry only string values,
// the copy state machine Waiting → Creating (Progress) → Available |
// CreateFailed computed lazily from an injectable clock, deletion on cancel,
// and fault injection (throttling, 5xx, non-JSON 502, latency, dropped
// connections, per-image scripted answers, among them an answer lost or held
// back after the action took effect).
//
// A request is handled in this order, each step answering on failure:
//
//  1. transport: GET or POST on "/" (403 UnsupportedHTTPMethod, 404
//     InvalidAction.NotFound), query and form body within MaxBodyBytes (413
//     RequestTooLarge), well formed, each parameter once (400
//     InvalidParameter);
//  2. gateway: Action, Version and the signature parameters present (400
//     MissingParameter), HMAC-SHA1 / 1.0 / no bearer token (400
//     InvalidParameter), known AccessKeyId (404 InvalidAccessKeyId.NotFound),
//     Timestamp readable (400 IllegalTimestamp) and within ±15 min (400
//     InvalidTimeStamp.Expired), signature (400 SignatureDoesNotMatch), fresh
//     nonce (400 SignatureNonceUsed);
//  3. the request is counted (Calls, TotalCalls);
//  4. a scripted Answer for a named image, else the Faults;
//  5. the API: Version 2014-05-26 (400 InvalidVersion), Format JSON (400
//     InvalidParameter), RegionId present and known, then the action (404
//     InvalidAction.NotFound for any other action).
//
// Where the documentation is silent the simulator picks an answer and says so
// in a comment at that spot: RequestTooLarge, the InvalidParameter answers
// for Format and for duplicated parameters, InvalidVersion, the status of
// InvalidAction.NotFound, MissingParameter for a CopyImage without
// DestinationRegionId, rejecting PageSize over 100 instead of clamping,
// NotFound for a second cancel, and the oldest-first DescribeImages order.
//
// A Server is an http.Handler; run it under httptest.NewServer in tests or
// under an http.Server (see `copyguard ecssim`).
//
// The package imports only the standard library. It must not import the
// Alibaba SDK, cloud/ecs or any other copyguard package: it exists to check
// the SDK adapter independently, so it must not share code with it. Only the
// wire-compatibility test (sdk_test.go, package ecssim_test) uses the SDK.
package ecssim
