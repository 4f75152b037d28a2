package ecs

import (
	"context"
	"fmt"
	"strings"

	"github.com/copyguard/copyguard/cloud"
)

// MaxDescribeIDs is how many image ids one DescribeCopies call takes: one
// page of DescribeImages (PageSize at most 100), so an answer is never
// cut short.
const MaxDescribeIDs = pageSize

// DescribeCopies reads the images with the given ids in region as they
// are now, whatever their status: the query names every status
// (cloud.AllStatuses), as the default (Available only) hides copies in
// flight. An id the API does not return no longer exists (or is not the
// account's); it is simply absent from the answer. Only images owned by
// the account are read (ImageOwnerAlias=self), copies or not: the caller
// asked for these ids.
//
// At most MaxDescribeIDs ids in one call. SourceImageID and SourceRegion
// are left empty, as in ListCopies.
func (c *Client) DescribeCopies(ctx context.Context, region string, ids []string) ([]cloud.Copy, error) {
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("describe copies in %s: %w", region, err)
	}
	if len(ids) == 0 {
		return []cloud.Copy{}, nil
	}
	if len(ids) > MaxDescribeIDs {
		return nil, fmt.Errorf("describe copies in %s: %d ids, at most %d in one call", region, len(ids), MaxDescribeIDs)
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		if strings.TrimSpace(id) == "" || strings.Contains(id, ",") {
			return nil, fmt.Errorf("describe copies in %s: invalid image id %q", region, id)
		}
		want[id] = true
	}
	req := describeRequest(region, strings.Join(cloud.AllStatuses(), ","), 1)
	req.ImageId = strings.Join(ids, ",")
	resp, err := c.describe(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("describe copies in %s: %w", region, err)
	}
	copies := make([]cloud.Copy, 0, len(resp.Images.Image))
	for _, img := range resp.Images.Image {
		// A server that ignored the id filter must not make another
		// image stand for one asked about.
		if !want[img.ImageId] {
			continue
		}
		delete(want, img.ImageId)
		copies = append(copies, toCopy(region, img))
	}
	return copies, nil
}
