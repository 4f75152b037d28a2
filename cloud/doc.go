// Package cloud holds the vendor-neutral words copyguard uses to talk about
// image copies and the errors a cloud API returns: Copy, APIError, Class,
// Outcome and Classify.
//
// It owns the one place where an API error is turned into a decision
// (retry, final outcome, or permanent failure). It must not import the
// Alibaba SDK, nats.go, or any other copyguard package.
package cloud
