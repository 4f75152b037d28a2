package ecs

import (
	"context"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
)

// Probe makes the cheapest call that proves access to region works: one
// DescribeImages of the account's own images with PageSize=1. The worker
// uses it for the start-up check and for the circuit breaker's probe.
func (c *Client) Probe(ctx context.Context, region string) error {
	if err := checkRegion(region); err != nil {
		return fmt.Errorf("probe %s: %w", region, err)
	}
	// No Status: the API's default (Available) is as good a proof as any.
	req := describeRequest(region, "", 1)
	req.PageSize = requests.NewInteger(1)
	if _, err := c.describe(ctx, req); err != nil {
		return fmt.Errorf("probe %s: %w", region, err)
	}
	return nil
}
