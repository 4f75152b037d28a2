package bus

// RedactURL exposes redactURL to the external tests.
var RedactURL = redactURL
