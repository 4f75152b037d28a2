package bus

// RedactURL exposes redactURL to the external tests.
var RedactURL = redactURL

// The settings derived in defaults.go, for TestDefaults.
var HeartbeatFor = heartbeatFor

const (
	PullExpiry    = pullExpiry
	PullHeartbeat = pullHeartbeat
)
