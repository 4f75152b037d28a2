package ecs

import (
	"context"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// Probe makes the cheapest call that proves access to region works: one
// DescribeImages of the account's own images with PageSize=1. The worker
// uses it for the start-up check and for the circuit breaker's probe.
func (c *Client) Probe(ctx context.Context, region string) error {
	if err := checkRegion(region); err != nil {
		return fmt.Errorf("probe %s: %w", region, err)
	}
	req := ecs.CreateDescribeImagesRequest()
	req.RegionId = region
	req.ImageOwnerAlias = "self"
	req.PageNumber = requests.NewInteger(1)
	req.PageSize = requests.NewInteger(1)
	resp := ecs.CreateDescribeImagesResponse()
	err := c.call(ctx, "DescribeImages", req, resp)
	if err == nil {
		err = c.checkAnswer(resp, resp.RequestId)
	}
	if err != nil {
		return fmt.Errorf("probe %s: %w", region, err)
	}
	return nil
}
