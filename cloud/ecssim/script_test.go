package ecssim

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestScript(t *testing.T) {
	h := newHarness(t, Config{})
	ts := httptest.NewServer(h.s)
	defer ts.Close()
	id := h.s.AddImage(Image{Region: "cn-hangzhou", IsCopied: true})
	other := h.s.AddImage(Image{Region: "cn-hangzhou", IsCopied: true})
	h.s.SetFaults(Faults{ErrorRate: 1}) // scripts take precedence over faults
	h.s.Script(id,
		Answer{Code: "Throttling", Status: 400, Message: "slow down"},
		Answer{Code: "OperationConflict", Status: 409},
		Answer{Status: 200},
		Answer{Raw: "upstream down"},
		Answer{Status: 504},
		Answer{Drop: true},
		Answer{Delay: 30 * time.Millisecond, Pass: true},
	)
	type want struct {
		status   int
		code     string
		contains string
	}
	steps := []want{
		{400, "Throttling", `"Message":"slow down"`},
		{409, "OperationConflict", `"Message":"Scripted answer."`},
		{200, "", `{"RequestId":"`},
		{502, "", "upstream down"},
		{504, CodeInternalError, ""},
		{-1, "", ""}, // dropped
		{200, "", `{"RequestId":"`},
	}
	for i, st := range steps {
		t.Run(fmt.Sprint("answer ", i+1), func(t *testing.T) {
			resp, err := post(t, h, ts.URL, h.sign(h.params("CancelCopyImage", "cn-hangzhou", "ImageId", id)))
			if st.status == -1 {
				if err == nil {
					resp.Body.Close()
					t.Fatal("want a dropped connection")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != st.status || !strings.Contains(string(body), st.contains) ||
				(st.code != "" && !strings.Contains(string(body), `"Code":"`+st.code+`"`)) {
				t.Fatalf("got %d %s, want %+v", resp.StatusCode, body, st)
			}
			if st.status >= 400 && st.status != 502 {
				checkErrorBody(t, body)
			}
		})
	}
	if img, ok := h.s.Image("cn-hangzhou", id); ok {
		t.Fatalf("the Pass answer should have cancelled the copy: %+v", img)
	}
	if _, ok := h.s.Image("cn-hangzhou", other); !ok {
		t.Fatal("the lying 200 must not cancel anything, nor touch other images")
	}
	// Queue empty: faults apply again.
	if s, _ := h.call("CancelCopyImage", "cn-hangzhou", "ImageId", other); s < 500 {
		t.Fatalf("after the script, faults apply: %d", s)
	}
	if got := h.s.Calls("CancelCopyImage", id); got != len(steps) {
		t.Fatalf("Calls = %d, want %d", got, len(steps))
	}
}

func TestScriptAnyActionAndCommaList(t *testing.T) {
	h := newHarness(t, Config{})
	src := h.s.AddImage(Image{Region: "cn-hangzhou"})
	h.s.Script(src, Answer{Code: "Forbbiden", Status: 403}, Answer{Code: "X", Status: 400})
	if s, m := h.call("CopyImage", "cn-hangzhou", "ImageId", src, "DestinationRegionId", "cn-beijing"); s != 403 || code(m) != "Forbbiden" {
		t.Fatalf("%d %v", s, m)
	}
	if s, m := h.call("DescribeImages", "cn-hangzhou", "ImageId", "m-a,"+src); s != 400 || code(m) != "X" {
		t.Fatalf("%d %v", s, m)
	}
	if s, _ := h.call("CopyImage", "cn-hangzhou", "ImageId", src, "DestinationRegionId", "cn-beijing"); s != 200 {
		t.Fatalf("script exhausted, want the real answer: %d", s)
	}
}

func TestCalls(t *testing.T) {
	h := newHarness(t, Config{})
	h.call("CancelCopyImage", "cn-hangzhou", "ImageId", "m-1")
	h.call("CancelCopyImage", "mars", "ImageId", "m-1")
	h.call("CancelCopyImage", "cn-hangzhou")
	h.call("DescribeImages", "cn-hangzhou", "ImageId", "m-1,m-2,m-1")
	h.call("DescribeImages", "cn-hangzhou")
	h.call("NoSuchAction", "cn-hangzhou")
	bad := h.sign(h.params("CancelCopyImage", "cn-hangzhou", "ImageId", "m-1"))
	bad["Signature"] = "x"
	h.send(bad)
	tests := []struct {
		action, id string
		want       int
	}{
		{"CancelCopyImage", "m-1", 2},
		{"CancelCopyImage", "", 1},
		{"DescribeImages", "m-1", 1},
		{"DescribeImages", "m-2", 1},
		{"DescribeImages", "", 1},
		{"NoSuchAction", "", 1},
		{"CopyImage", "m-1", 0},
	}
	for _, tt := range tests {
		if got := h.s.Calls(tt.action, tt.id); got != tt.want {
			t.Errorf("Calls(%s, %q) = %d, want %d", tt.action, tt.id, got, tt.want)
		}
	}
	for action, want := range map[string]int{"CancelCopyImage": 3, "DescribeImages": 2, "NoSuchAction": 1, "CopyImage": 0} {
		if got := h.s.TotalCalls(action); got != want {
			t.Errorf("TotalCalls(%s) = %d, want %d", action, got, want)
		}
	}
}

// TestConcurrent runs every entry point at once under -race: each copy must
// be cancelled exactly once however many workers race for it.
func TestConcurrent(t *testing.T) {
	h := newHarness(t, Config{})
	const copies, workers = 400, 8
	var all []string
	for i := range copies {
		all = append(all, h.s.AddImage(Image{Region: h.s.Regions()[i%4], IsCopied: true}))
	}
	src := h.s.AddImage(Image{Region: "cn-hangzhou"})
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won = map[string]int{}
	)
	for w := range workers {
		wg.Go(func() {
			for i, id := range all {
				region := h.s.Regions()[i%4]
				if s, _ := h.call("CancelCopyImage", region, "ImageId", id); s == 200 {
					mu.Lock()
					won[id]++
					mu.Unlock()
				}
				if i%50 == w {
					h.call("DescribeImages", region, "Status", "Waiting,Creating", "PageSize", "100")
					h.call("CopyImage", "cn-hangzhou", "ImageId", src, "DestinationRegionId", "cn-beijing")
					h.s.SetFaults(Faults{})
					h.s.Image(region, id)
					h.clock.Add(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	for _, id := range all {
		if won[id] != 1 {
			t.Fatalf("copy %s cancelled %d times", id, won[id])
		}
	}
	if got := h.s.TotalCalls("CancelCopyImage"); got != copies*workers {
		t.Fatalf("TotalCalls = %d", got)
	}
}

func BenchmarkCancel(b *testing.B) {
	h := newHarness(b, Config{NonceMemory: 1 << 20})
	regions := h.s.Regions()
	for i := range 100_000 {
		h.s.AddImage(Image{Region: regions[i%len(regions)], IsCopied: true})
	}
	ids := make([]map[string]string, b.N)
	for i := range ids {
		region := regions[i%len(regions)]
		id := h.s.AddImage(Image{Region: region, IsCopied: true})
		ids[i] = h.sign(h.params("CancelCopyImage", region, "ImageId", id))
	}
	b.ResetTimer()
	for i := range b.N {
		if w := h.send(ids[i]); w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
