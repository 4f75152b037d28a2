package worker

import (
	"testing"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

// TestIDs fixes the exact form of every message id and KV key. The
// expected strings are literals taken from the worker before ids.go
// existed: deduplication across versions depends on them, so a failure
// here is a compatibility break, not a test to update.
func TestIDs(t *testing.T) {
	budget := event.TriggerRef{ID: "t-1", Type: "budget.exceeded", Source: "test"}
	quar := event.TriggerRef{ID: "q-1", Type: "region.quarantined", Source: "copyguard/ops"}
	cp := cloud.Copy{Region: "cn-hangzhou", ImageID: "m-aaaa0001"}
	result := func(o cloud.Outcome) event.Result {
		return event.Result{Trigger: budget, Region: cp.Region, ImageID: cp.ImageID, Outcome: string(o)}
	}
	tests := []struct {
		name, got, want string
	}{
		{"copy key", copyKey(cp), "cn-hangzhou.m-aaaa0001"},
		{"copy key of", copyKeyOf("cn-shanghai", "m-bbbb0001"), "cn-shanghai.m-bbbb0001"},
		{"trigger key", triggerKey(budget), "26b3e8d7b516b7a2e86da460"},
		{"trigger key, other source", triggerKey(quar), "95cea2d4b69634eb8974682a"},
		{"trigger key ignores the type", triggerKey(event.TriggerRef{ID: "t-1", Type: "x", Source: "test"}), "26b3e8d7b516b7a2e86da460"},
		{"condition key", conditionKey("quarantine", quar), "9ccb6674523175ac1fa0b8bfb56ed0b3"},
		{"condition key, other policy", conditionKey("budget", budget), "04590bf2fa29e4f33b700b4db932c49d"},
		{"job msg id", jobMsgID(copyKey(cp), budget), "job:cn-hangzhou.m-aaaa0001:26b3e8d7b516b7a2e86da460"},
		{"result msg id", resultMsgID(result(cloud.OutcomeCancelled)), "result:cn-hangzhou.m-aaaa0001:26b3e8d7b516b7a2e86da460:cancelled"},
		{"result msg id, held", resultMsgID(result(cloud.OutcomeHeld)), "result:cn-hangzhou.m-aaaa0001:26b3e8d7b516b7a2e86da460:held"},
		{"result subject", resultSubject(result(cloud.OutcomeCancelled)), "cn-hangzhou/m-aaaa0001"},
		{"decision msg id", decisionMsgID(budget), "decision:26b3e8d7b516b7a2e86da460"},
		{"condition decision msg id", conditionDecisionMsgID(quar, cp), "decision:95cea2d4b69634eb8974682a:cn-hangzhou.m-aaaa0001"},
		{"reconcile lease key", reconcileLeaseKey("cn-hangzhou"), "reconcile.cn-hangzhou"},
		{"listed key", listedKey("cn-hangzhou"), "listed.cn-hangzhou"},
		{"trigger id key", triggerIDKey(budget), "trigger.26b3e8d7b516b7a2e86da460"},
		{"trigger id key ignores the type", triggerIDKey(event.TriggerRef{ID: "t-1", Type: "x", Source: "test"}), "trigger.26b3e8d7b516b7a2e86da460"},
		{"rejected msg id", rejectedMsgID("copyguard.trigger.budget.exceeded", []byte(`{"specversion":"1.0",`)), "rejected:2be8741cdd6efc75035dfdf1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSplitCopyKey(t *testing.T) {
	tests := []struct {
		key, region, id string
		ok              bool
	}{
		{"cn-hangzhou.m-123", "cn-hangzhou", "m-123", true},
		{"a.b.m-1", "a.b", "m-1", true},
		{"cn-hangzhou.", "cn-hangzhou", "", true},
		{"m-123", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			region, id, ok := splitCopyKey(tt.key)
			if region != tt.region || id != tt.id || ok != tt.ok {
				t.Errorf("splitCopyKey(%q) = %q, %q, %v; want %q, %q, %v", tt.key, region, id, ok, tt.region, tt.id, tt.ok)
			}
			if ok && tt.id != "" && copyKey(cloud.Copy{Region: region, ImageID: id}) != tt.key {
				t.Errorf("copyKey does not invert splitCopyKey for %q", tt.key)
			}
		})
	}
}

func TestIsCopyKey(t *testing.T) {
	for key, want := range map[string]bool{
		"cn-hangzhou.m-bp1abc":              true,
		"trigger.26b3e8d7b516b7a2e86da460":  false,
		"cn-hangzhou":                       false,
		"ap-southeast-1.m-t4iotlghgibd4w6v": true,
	} {
		if got := IsCopyKey(key); got != want {
			t.Errorf("IsCopyKey(%q) = %v, want %v", key, got, want)
		}
	}
}
