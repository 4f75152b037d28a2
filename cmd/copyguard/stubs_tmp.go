package main

import (
	"errors"
)

// Temporary: each of these is replaced by its own file as the work lands.
var errNotYet = errors.New("not built yet")
