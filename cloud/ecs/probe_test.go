package ecs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// TestProbe: one DescribeImages with PageSize=1 per probe, whatever the
// number of images; a removed key is a credential error, and a key the
// simulator accepts again makes the probe pass.
func TestProbe(t *testing.T) {
	e := newEnv(t, nil)
	for range 3 {
		e.sim.AddImage(ecssim.Image{Region: region, IsCopied: true})
	}
	ctx := context.Background()
	if err := e.c.Probe(ctx, region); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if n := e.sim.TotalCalls("DescribeImages"); n != 1 {
		t.Errorf("DescribeImages calls = %d, want 1 (PageSize=1)", n)
	}

	e.sim.RemoveKey(testAK)
	err := e.c.Probe(ctx, region)
	if !cloud.IsCredentialError(err) || !errors.Is(err, &cloud.APIError{Code: "InvalidAccessKeyId.NotFound"}) {
		t.Fatalf("probe with a removed key: %v, want InvalidAccessKeyId.NotFound", err)
	}

	e.sim.SetKey(testAK, "another-secret")
	if err := e.c.Probe(ctx, region); !errors.Is(err, &cloud.APIError{Code: "SignatureDoesNotMatch"}) {
		t.Fatalf("probe with a changed secret: %v, want SignatureDoesNotMatch", err)
	}
	e.sim.SetKey(testAK, testSecret)
	if err := e.c.Probe(ctx, region); err != nil {
		t.Fatalf("probe after the key is restored: %v", err)
	}
	if err := e.c.Probe(ctx, "no-such-region"); err == nil {
		t.Error("probe of an unknown region succeeded")
	}
}
