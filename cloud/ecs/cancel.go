package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/copyguard/copyguard/cloud"
)

// CancelCopy cancels the image copy imageID in region, its destination
// region (CancelCopyImage). It returns the RequestId of the answer: on
// success, and on an API error when the answer had one.
//
// The error wraps a *cloud.APIError, a *cloud.TransportError or
// cloud.ErrMalformedResponse; cloud.Classify tells what it means. When
// ctx ends first, the error is a *cloud.TransportError with Timeout set
// and the request may still reach the API.
func (c *Client) CancelCopy(ctx context.Context, region, imageID string) (string, error) {
	if err := checkIDs(region, imageID); err != nil {
		return "", fmt.Errorf("cancel copy %s in %s: %w", imageID, region, err)
	}
	req := ecs.CreateCancelCopyImageRequest()
	req.RegionId = region
	req.ImageId = imageID
	resp := ecs.CreateCancelCopyImageResponse()
	err := c.call(ctx, "CancelCopyImage", req, resp)
	if err == nil {
		err = c.checkAnswer(resp, resp.RequestId)
	}
	if err != nil {
		return requestID(err), fmt.Errorf("cancel copy %s in %s: %w", imageID, region, err)
	}
	return resp.RequestId, nil
}

// CopyRequest asks for a copy of SourceImageID from SourceRegion to
// DestinationRegion.
type CopyRequest struct {
	SourceRegion      string
	SourceImageID     string
	DestinationRegion string
	// Name and Description of the new image; optional.
	Name, Description string
	// Tags go on the new image; at most 20.
	Tags map[string]string
	// ResourceGroupID of the new image; empty means the default group.
	ResourceGroupID string
}

// CopyImage starts a copy (CopyImage) and returns the new image's ID in
// the destination region, which is what CancelCopy takes. CopyImage is not
// idempotent: after an error with an unknown outcome a copy may exist.
// It is for tests and the demo; copyguard itself never copies.
func (c *Client) CopyImage(ctx context.Context, r CopyRequest) (string, error) {
	wrap := func(err error) error {
		return fmt.Errorf("copy image %s from %s to %s: %w", r.SourceImageID, r.SourceRegion, r.DestinationRegion, err)
	}
	if err := checkIDs(r.SourceRegion, r.SourceImageID); err != nil {
		return "", wrap(err)
	}
	if err := checkRegion(r.DestinationRegion); err != nil {
		return "", wrap(fmt.Errorf("destination: %w", err))
	}
	req := ecs.CreateCopyImageRequest()
	req.RegionId = r.SourceRegion
	req.ImageId = r.SourceImageID
	req.DestinationRegionId = r.DestinationRegion
	req.DestinationImageName = r.Name
	req.DestinationDescription = r.Description
	req.ResourceGroupId = r.ResourceGroupID
	if len(r.Tags) > 0 {
		tags := make([]ecs.CopyImageTag, 0, len(r.Tags))
		for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
			tags = append(tags, ecs.CopyImageTag{Key: k, Value: r.Tags[k]})
		}
		req.Tag = &tags
	}
	resp := ecs.CreateCopyImageResponse()
	err := c.call(ctx, "CopyImage", req, resp)
	if err == nil {
		err = c.checkAnswer(resp, resp.RequestId)
	}
	if err == nil && resp.ImageId == "" {
		err = fmt.Errorf("%w: no ImageId in a 2xx answer", cloud.ErrMalformedResponse)
	}
	if err != nil {
		return "", wrap(err)
	}
	return resp.ImageId, nil
}

// checkAnswer looks harder at a 2xx answer than the SDK does. The SDK
// takes any 2xx as success, even one whose body is an error (a Code) or
// empty; the real API always sends a RequestId.
func (c *Client) checkAnswer(resp responses.AcsResponse, reqID string) error {
	var body struct{ Code, Message, RequestId json.RawMessage }
	if json.Unmarshal(resp.GetHttpContentBytes(), &body) == nil {
		if code := rawString(body.Code); code != "" && !successCode(code) {
			return &cloud.APIError{Code: code, HTTPStatus: resp.GetHttpStatus(),
				RequestID: rawString(body.RequestId), Message: c.scrub(capMessage(rawString(body.Message)))}
		}
	}
	if reqID == "" {
		return fmt.Errorf("%w: no RequestId in a %d answer", cloud.ErrMalformedResponse, resp.GetHttpStatus())
	}
	return nil
}

func rawString(raw json.RawMessage) string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return anyString(v)
}

func successCode(code string) bool {
	switch strings.ToLower(code) {
	case "200", "success", "ok":
		return true
	}
	return false
}

// requestID returns the RequestId an error carries, if any.
func requestID(err error) string {
	var e *cloud.APIError
	if errors.As(err, &e) {
		return e.RequestID
	}
	return ""
}

// checkRegion rejects region IDs the SDK would put into a host name
// unchecked (ecs.<region>.aliyuncs.com): only letters, digits, '-', '_'.
func checkRegion(region string) error {
	if region == "" {
		return errors.New("empty region")
	}
	for _, r := range region {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("invalid region %q", region)
		}
	}
	return nil
}

func checkIDs(region, imageID string) error {
	if err := checkRegion(region); err != nil {
		return err
	}
	if strings.TrimSpace(imageID) == "" {
		return errors.New("empty image id")
	}
	return nil
}
