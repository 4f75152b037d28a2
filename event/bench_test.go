package event

import "testing"

// The worker's budget is 20,000 triggers a second on two cores (SPEC
// §8.1); decoding must be a small part of it.

func BenchmarkDecode(b *testing.B) {
	body := []byte(seedEvents[1])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode(body, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTrigger(b *testing.B) {
	e, err := Decode([]byte(seedEvents[1]), 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := DecodeTrigger(e); err != nil {
			b.Fatal(err)
		}
	}
}
