package app

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestDescriptorsOK(t *testing.T) {
	if err := descriptorsOK(10, 1024, nil); err != nil {
		t.Errorf("10 of 1024: %v", err)
	}
	if err := descriptorsOK(922, 1024, nil); err == nil || !strings.Contains(err.Error(), "922 file descriptors open, limit 1024") {
		t.Errorf("922 of 1024: %v", err)
	}
	if err := descriptorsOK(0, 0, syscall.EMFILE); err == nil || !strings.Contains(err.Error(), "too many open files") {
		t.Errorf("EMFILE: %v", err)
	}
	if err := descriptorsOK(0, 0, errNoFDCount); err != nil {
		t.Errorf("unsupported platform: %v", err)
	}
}

// TestDescriptorsRunningOut lowers the descriptor limit of a child
// process, opens files until 90 % of it are used, and checks that the
// check counts them and fails, then holds again once they are closed.
func TestDescriptorsRunningOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	if os.Getenv("COPYGUARD_FD_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorsRunningOut$", "-test.v")
		cmd.Env = append(os.Environ(), "COPYGUARD_FD_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	open, _, err := countFDs()
	if err != nil {
		t.Fatal(err)
	}
	limit := uint64(open + 40)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	if err := descriptorsOK(countFDs()); err != nil {
		t.Fatalf("with %d free: %v", 40, err)
	}
	var files []*os.File
	for {
		n, l, err := countFDs()
		if err != nil {
			t.Fatal(err)
		}
		if l != limit {
			t.Fatalf("limit read as %d, set %d", l, limit)
		}
		if float64(n) >= fdHeadroom*float64(limit) {
			break
		}
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	err = descriptorsOK(countFDs())
	if err == nil || !strings.Contains(err.Error(), "file descriptors open") {
		t.Errorf("at 90%%: %v", err)
	}
	// Every descriptor taken: counting fails, and that fails the check.
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if err := descriptorsOK(countFDs()); err == nil {
		t.Error("no descriptor left, check passes")
	}
	for _, f := range files {
		f.Close()
	}
	if err := descriptorsOK(countFDs()); err != nil {
		t.Errorf("after closing: %v", err)
	}
}
