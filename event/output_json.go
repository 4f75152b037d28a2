package event

import "encoding/json"

// The output payloads write empty lists as [] rather than null: readers
// in other languages (and jq filters) can then iterate without a guard,
// and "no copies held" reads the same however the slice was built.

// MarshalJSON writes the result with policies as [] when there are none.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result // drops the method, so Marshal does not recurse
	p := plain(r)
	p.Policies = nonNil(p.Policies)
	return json.Marshal(p)
}

// MarshalJSON writes the copy with policies as [] when there are none.
func (c DecidedCopy) MarshalJSON() ([]byte, error) {
	type plain DecidedCopy
	p := plain(c)
	p.Policies = nonNil(p.Policies)
	return json.Marshal(p)
}

// MarshalJSON writes the decision with every list present.
func (d Decision) MarshalJSON() ([]byte, error) {
	type plain Decision
	p := plain(d)
	p.Fired = nonNil(p.Fired)
	p.Cancel = nonNil(p.Cancel)
	p.Planned = nonNil(p.Planned)
	p.Protected = nonNil(p.Protected)
	p.Held = nonNil(p.Held)
	p.AlreadyDecided = nonNil(p.AlreadyDecided)
	p.Errors = nonNil(p.Errors)
	return json.Marshal(p)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
