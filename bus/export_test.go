package bus

// The settings derived in defaults.go, for TestDefaults.
var HeartbeatFor = heartbeatFor

const (
	PullExpiry    = pullExpiry
	PullHeartbeat = pullHeartbeat
)
