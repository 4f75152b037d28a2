package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/waitfor"
)

// TestScripts runs the transcripts in testdata/script with the copyguard
// binary (this test binary) as the command copyguard, the way the go
// command is tested. Most of them run the README's own samples with the
// readme command, so a README that drifts from the program fails here.
//
// Each script starts in $WORK holding a copy of examples/ (so the
// README's relative paths work and nothing is written into the
// repository), with free loopback ports in $SIMADDR (the simulator),
// $NATSPORT and $HTTPADDR (a worker's embedded NATS and metrics), and
// COPYGUARD_NATS_URL pointing at that NATS.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			for _, dir := range []string{"examples/policies", "examples/simulator"} {
				if err := os.CopyFS(filepath.Join(e.WorkDir, dir), os.DirFS(filepath.Join(repo, dir))); err != nil {
					return err
				}
			}
			ports := natstest.FreePorts(t, 3)
			e.Setenv("REPO", repo)
			e.Setenv("SIMADDR", fmt.Sprintf("127.0.0.1:%d", ports[0]))
			e.Setenv("NATSPORT", fmt.Sprint(ports[1]))
			e.Setenv("HTTPADDR", fmt.Sprintf("127.0.0.1:%d", ports[2]))
			e.Setenv("COPYGUARD_NATS_URL", fmt.Sprintf("nats://127.0.0.1:%d", ports[1]))
			e.Setenv("NO_PROXY", "127.0.0.1,localhost")
			e.Setenv("USER", "tester")
			e.Setenv("TZ", "UTC")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"readme":    cmdReadme,
			"waitready": cmdWaitReady,
			"waitbody":  cmdWaitBody,
		},
	})
}

// cmdWaitReady: waitready URL waits up to 20s for URL to answer 200.
func cmdWaitReady(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitready URL")
	}
	var err error
	if werr := waitfor.Until(context.Background(), args[0]+" ready", 20*time.Second, 100*time.Millisecond, nil, func() bool {
		var resp *http.Response
		if resp, err = http.Get(args[0]); err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); werr != nil {
		for _, f := range []string{"bg-ecssim.log", "bg-run.log"} {
			if b, err := os.ReadFile(ts.MkAbs(f)); err == nil {
				ts.Logf("%s:\n%s", f, b)
			}
		}
		ts.Fatalf("%v (last error: %v)", werr, err)
	}
}

// cmdWaitBody: waitbody URL TEXT... waits up to 20s for the body of URL,
// whatever its status, to contain every TEXT.
func cmdWaitBody(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: waitbody URL TEXT...")
	}
	var body []byte
	var err error
	if werr := waitfor.Until(context.Background(), fmt.Sprintf("%q in the body of %s", args[1:], args[0]), 20*time.Second, 100*time.Millisecond, nil, func() bool {
		var resp *http.Response
		if resp, err = http.Get(args[0]); err != nil {
			return false
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		return err == nil && !slices.ContainsFunc(args[1:], func(s string) bool { return !bytes.Contains(body, []byte(s)) })
	}); werr != nil {
		ts.Fatalf("%v; last body (%v):\n%s", werr, err, body)
	}
}

// readmeBlock is a fenced block of README.md after a line
// "<!-- test: NAME -->": commands ("$ copyguard ...", or "$ curl -s URL"
// for the worker's HTTP endpoints; continued with a trailing backslash)
// each followed by the output the README promises.
type readmeStep struct {
	env     []string // NAME=VALUE before the command
	curl    bool     // curl -s URL: args is [URL]
	args    []string // after "copyguard" (or "curl -s")
	want    []string
	line    int
	command string
}

func readmeSteps(path, name string) ([]readmeStep, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		steps         []readmeStep
		found, inside bool
		cont          string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !found:
			found = strings.TrimSpace(line) == "<!-- test: "+name+" -->"
			continue
		case !inside:
			if !strings.HasPrefix(line, "```") {
				return nil, fmt.Errorf("%s:%d: want a fenced block after the test marker", path, n)
			}
			inside = true
			continue
		case strings.HasPrefix(line, "```"):
			return steps, nil
		case cont != "" || strings.HasPrefix(line, "$ "):
			cmd := cont + strings.TrimPrefix(line, "$ ")
			if strings.HasSuffix(cmd, "\\") {
				cont = strings.TrimSuffix(cmd, "\\") + " "
				continue
			}
			cont = ""
			words, err := splitWords(cmd)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			s := readmeStep{line: n, command: cmd}
			for len(words) > 0 && strings.Contains(words[0], "=") {
				s.env, words = append(s.env, words[0]), words[1:]
			}
			switch {
			case len(words) == 3 && words[0] == "curl" && words[1] == "-s":
				s.curl, s.args = true, words[2:]
			case len(words) > 0 && words[0] == "copyguard":
				s.args = words[1:]
			default:
				return nil, fmt.Errorf("%s:%d: not a copyguard command (nor curl -s URL): %s", path, n, cmd)
			}
			steps = append(steps, s)
		case len(steps) == 0:
			return nil, fmt.Errorf("%s:%d: output before any command", path, n)
		default:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no <!-- test: %s --> marker", path, name)
	}
	return nil, fmt.Errorf("%s: the block of %s does not end", path, name)
}

// splitWords splits a command line as sh would for the README's simple
// commands: words, 'single' and "double" quotes without expansions.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %s", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\.\d{3}\b`), "HH:MM:SS.mmm"},
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "YYYY-MM-DDTHH:MM:SSZ"},
	{regexp.MustCompile(`\bcli-\d+-\d+\b`), "cli-ID"},
	{regexp.MustCompile(`[ \t]+$`), ""},
}

// normalise replaces what changes from run to run (times, generated ids)
// and the README's ports by placeholders.
func normalise(ts *testscript.TestScript, s string) string {
	for _, n := range normalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// cmdReadme: readme NAME runs the commands of the README block marked
// <!-- test: NAME --> one after another, in the script's directory and
// environment, and checks that each prints (stdout, then stderr) the
// lines shown under it, after normalise. "watch" prints concurrent
// results in the order they were stored, so its lines are compared as a
// set. The README's simulator address 127.0.0.1:8090 becomes $SIMADDR,
// and the worker's 127.0.0.1:9090 becomes $HTTPADDR. "curl -s URL" is
// done by the test itself: it prints the body, whatever the status.
//
// readme -bg NAME starts the block's commands in the background instead
// (a simulator, a worker) and stops them when the script ends; their
// output, if the block shows any, is not checked.
func cmdReadme(ts *testscript.TestScript, neg bool, args []string) {
	bg := len(args) == 2 && args[0] == "-bg"
	if neg || (len(args) != 1 && !bg) {
		ts.Fatalf("usage: readme [-bg] NAME")
	}
	steps, err := readmeSteps(filepath.Join(ts.Getenv("REPO"), "README.md"), args[len(args)-1])
	ts.Check(err)
	for _, s := range steps {
		for i, a := range s.args {
			a = strings.ReplaceAll(a, "127.0.0.1:8090", ts.Getenv("SIMADDR"))
			s.args[i] = strings.ReplaceAll(a, "127.0.0.1:9090", ts.Getenv("HTTPADDR"))
		}
		for _, e := range s.env {
			k, v, _ := strings.Cut(e, "=")
			ts.Setenv(k, v)
		}
		if bg && s.curl {
			ts.Fatalf("README.md:%d: readme -bg cannot run %s", s.line, s.command)
		}
		if bg {
			startBackground(ts, s)
			continue
		}
		ts.Logf("README.md:%d: $ %s", s.line, s.command)
		var out string
		var err error
		if s.curl {
			out, err = httpGet(s.args[0])
		} else {
			err = ts.Exec("copyguard", s.args...)
			out = ts.ReadFile("stdout") + ts.ReadFile("stderr")
		}
		got := strings.Split(strings.TrimSuffix(normalise(ts, out), "\n"), "\n")
		want := strings.Split(normalise(ts, strings.Join(s.want, "\n")), "\n")
		if len(s.args) > 0 && s.args[0] == "watch" {
			slices.Sort(got)
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			ts.Fatalf("README.md:%d: $ %s (%v)\nprinted:\n%s\nthe README shows:\n%s", s.line, s.command, err,
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// httpGet is curl -s URL: the body, whatever the status.
func httpGet(url string) (string, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// startBackground starts one README command as a process of its own, in
// the script's directory, with the script's environment.
func startBackground(ts *testscript.TestScript, s readmeStep) {
	exe, err := os.Executable()
	ts.Check(err)
	cmd := exec.Command(exe, s.args...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "COPYGUARD_TEST_MAIN=1")
	// Not COPYGUARD_NATS_URL: for copyguard run it would be the NATS to
	// use instead of starting the embedded one.
	for _, k := range []string{"COPYGUARD_NATS_PORT", "COPYGUARD_HTTP_ADDR", "COPYGUARD_DATA_DIR",
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "NO_PROXY", "TZ", "USER", "HOME"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	log, err := os.Create(ts.MkAbs(fmt.Sprintf("bg-%s.log", s.args[0])))
	ts.Check(err)
	cmd.Stdout, cmd.Stderr = log, log
	ts.Logf("README.md:%d: $ %s &", s.line, s.command)
	ts.Check(cmd.Start())
	ts.Defer(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
}
