package main

import "testing"

func TestByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"256MiB", 256 << 20, true}, {"2GiB", 2 << 30, true}, {"1TiB", 1 << 40, true},
		{"64KiB", 64 << 10, true}, {"512B", 512, true},
		{"1GB", 0, false}, {"1.5GiB", 0, false}, {"-1MiB", 0, false}, {"MiB", 0, false}, {"", 0, false}, {"99999999TiB", 0, false},
	} {
		var got int64
		err := byteSize(&got)(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("byteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok {
			var back int64
			if err := byteSize(&back)(formatBytes(got)); err != nil || back != got {
				t.Errorf("formatBytes(%d) = %q does not read back", got, formatBytes(got))
			}
		}
	}
	if got := formatBytes(1 << 20); got != "1MiB" {
		t.Errorf("formatBytes(1MiB) = %q", got)
	}
}
