package ecs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/copyguard/copyguard/cloud"
)

const (
	// pageSize is DescribeImages' maximum.
	pageSize = 100
	// maxPages stops a server that never runs out of pages: 100,000
	// copies in flight in one region is far beyond any quota.
	maxPages = 1000
)

// ListCopies returns the image copies in flight (Waiting or Creating) whose
// destination is region: the account's own images (ImageOwnerAlias=self)
// that are copies (IsCopied), from every page of DescribeImages.
//
// Pages are numbered, not cursors: when a copy finishes while the pages
// are read, another may shift between pages and be missed this time. A
// copy seen on two pages is returned once.
//
// SourceImageID and SourceRegion are left empty: DescribeImages does not
// say where a copy came from.
func (c *Client) ListCopies(ctx context.Context, region string) ([]cloud.Copy, error) {
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("list copies in %s: %w", region, err)
	}
	copies := []cloud.Copy{}
	seen := map[string]bool{}
	total, read := 0, 0
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("list copies in %s: more than %d pages", region, maxPages)
		}
		resp, err := c.describePage(ctx, region, page)
		if err != nil {
			return nil, fmt.Errorf("list copies in %s: page %d: %w", region, page, err)
		}
		images := resp.Images.Image
		for _, img := range images {
			if !img.IsCopied || seen[img.ImageId] {
				continue
			}
			seen[img.ImageId] = true
			copies = append(copies, toCopy(region, img))
		}
		total, read = resp.TotalCount, read+len(images)
		if len(images) == 0 || read >= total {
			return copies, nil
		}
	}
}

func (c *Client) describePage(ctx context.Context, region string, page int) (*ecs.DescribeImagesResponse, error) {
	return c.describe(ctx, describeRequest(region, cloud.StatusWaiting+","+cloud.StatusCreating, page))
}

// describeRequest is a DescribeImages request for this account's own
// images in region with the given statuses, one page of pageSize.
func describeRequest(region, statuses string, page int) *ecs.DescribeImagesRequest {
	req := ecs.CreateDescribeImagesRequest()
	req.RegionId = region
	req.Status = statuses
	req.ImageOwnerAlias = "self"
	req.PageNumber = requests.NewInteger(page)
	req.PageSize = requests.NewInteger(pageSize)
	return req
}

// describe sends one DescribeImages request and checks its answer.
func (c *Client) describe(ctx context.Context, req *ecs.DescribeImagesRequest) (*ecs.DescribeImagesResponse, error) {
	resp := ecs.CreateDescribeImagesResponse()
	err := c.call(ctx, "DescribeImages", req, resp)
	if err == nil {
		err = c.checkAnswer(resp, resp.RequestId)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func toCopy(region string, img ecs.Image) cloud.Copy {
	cp := cloud.Copy{
		ImageID:         img.ImageId,
		Region:          region,
		Status:          img.Status,
		Progress:        parseProgress(img.Progress),
		SizeGB:          img.Size,
		StartedAt:       parseTime(img.CreationTime),
		Name:            img.ImageName,
		ResourceGroupID: img.ResourceGroupId,
	}
	for _, t := range img.Tags.Tag {
		// DescribeImages sends TagKey/TagValue; the shared struct also
		// has Key/Value, which other APIs use.
		k, v := t.TagKey, t.TagValue
		if k == "" {
			k, v = t.Key, t.Value
		}
		if k == "" {
			continue
		}
		if cp.Tags == nil {
			cp.Tags = map[string]string{}
		}
		cp.Tags[k] = v
	}
	return cp
}

// parseProgress reads "32%" (or "32") as 32, clamped to 0..100; anything
// else is 0.
func parseProgress(s string) int {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f { // NaN
		return 0
	}
	return int(max(0, min(100, f)))
}

// parseTime reads a CreationTime, ISO 8601 UTC with or without seconds
// (the API also uses yyyy-MM-ddTHH:mmZ); the zero time if it does not
// parse.
func parseTime(s string) time.Time {
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
