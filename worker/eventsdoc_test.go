package worker

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/copyguard/copyguard/event"
)

// exampleRE finds the examples of docs/events.md: a marker naming the
// subject, then a json block (event's TestEventsDoc checks the rest).
var exampleRE = regexp.MustCompile("(?ms)^<!-- example: (\\S+) -->\n```json\n(.*?)\n```")

// TestEventsDocIDs checks that every output example in docs/events.md
// carries the id this worker gives that event, which is also its
// Nats-Msg-Id: the doc shows real ids, not made-up ones.
func TestEventsDocIDs(t *testing.T) {
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range exampleRE.FindAllSubmatch(doc, -1) {
		var ev struct {
			ID   string          `json:"id"`
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(m[2], &ev); err != nil {
			t.Errorf("example on %s: %v", m[1], err)
			continue
		}
		var want string
		switch ev.Type {
		case event.TypeDecision:
			var d event.Decision
			_ = json.Unmarshal(ev.Data, &d)
			want = decisionMsgID(d.Trigger)
		case event.TypeResult:
			var r event.Result
			_ = json.Unmarshal(ev.Data, &r)
			want = resultMsgID(r)
			if !r.Final {
				want = heldOpenMsgID(r)
			}
		case event.TypeRejected:
			var r event.Rejected
			_ = json.Unmarshal(ev.Data, &r)
			want = rejectedMsgID(r.Subject, []byte(r.Original))
		default:
			continue // inputs carry their producer's id; audit ids are checked in event
		}
		n++
		if ev.ID != want {
			t.Errorf("the %s example on %s has id %q; the worker gives it %q", ev.Type, m[1], ev.ID, want)
		}
	}
	if n == 0 {
		t.Error("no output example found in docs/events.md")
	}
}
