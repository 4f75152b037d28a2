package ecssim_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/copyguard/copyguard/cloud/ecssim"
)

// These tests drive the simulator with the real SDK: they prove that what
// the simulator accepts and answers is what the SDK sends and parses.

const (
	akID     = "LTAI-sim-test"
	akSecret = "sim-secret-value"
	stsID    = "STS.sim-test"
	stsSec   = "sts-secret"
)

func newSim(t *testing.T) (*ecssim.Server, string) {
	t.Helper()
	sim := ecssim.New(ecssim.Config{
		Keys:    map[string]string{akID: akSecret, stsID: stsSec},
		WaitFor: time.Hour, // copies stay in flight for the whole test
	})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, strings.TrimPrefix(ts.URL, "http://")
}

// newClient returns an SDK client aimed at the simulator, with the SDK's
// own retries off as copyguard runs it.
func newClient(t *testing.T, host, region string, cred any) *ecs.Client {
	t.Helper()
	cfg := sdk.NewConfig().WithAutoRetry(false).WithScheme("HTTP").WithTimeout(5 * time.Second)
	c, err := ecs.NewClientWithOptions(region, cfg, cred)
	if err != nil {
		t.Fatal(err)
	}
	c.Domain = host
	c.SetNoProxy(`127\.0\.0\.1`)
	return c
}

func TestSDKCopyDescribeCancel(t *testing.T) {
	sim, host := newSim(t)
	src := sim.AddImage(ecssim.Image{Region: "cn-hangzhou", Name: "base"})
	c := newClient(t, host, "cn-hangzhou", credentials.NewStaticAKCredentialsProvider(akID, akSecret))

	cp := ecs.CreateCopyImageRequest()
	cp.RegionId = "cn-hangzhou"
	cp.ImageId = src
	cp.DestinationRegionId = "cn-shanghai"
	cp.DestinationImageName = "copy-of-base"
	cp.Tag = &[]ecs.CopyImageTag{{Key: "copyguard", Value: "test value*~"}}
	cpResp, err := c.CopyImage(cp)
	if err != nil {
		t.Fatalf("CopyImage: %v", err)
	}
	if cpResp.RequestId == "" || !strings.HasPrefix(cpResp.ImageId, "m-uf") {
		t.Fatalf("CopyImage answer %+v", cpResp)
	}

	d := ecs.CreateDescribeImagesRequest()
	d.RegionId = "cn-shanghai"
	d.Status = "Waiting,Creating"
	d.ImageOwnerAlias = "self"
	d.PageSize = requests.NewInteger(100)
	d.Tag = &[]ecs.DescribeImagesTag{{Key: "copyguard", Value: "test value*~"}}
	dResp, err := c.DescribeImages(d)
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if dResp.TotalCount != 1 || len(dResp.Images.Image) != 1 || dResp.PageSize != 100 {
		t.Fatalf("DescribeImages answer %+v", dResp)
	}
	im := dResp.Images.Image[0]
	if im.ImageId != cpResp.ImageId || im.Status != "Waiting" || !im.IsCopied || im.Progress != "0%" ||
		im.ImageOwnerAlias != "self" || im.Size != ecssim.DefaultSizeGB || im.ImageName != "copy-of-base" ||
		len(im.Tags.Tag) != 1 || im.Tags.Tag[0].TagKey != "copyguard" || im.Tags.Tag[0].TagValue != "test value*~" {
		t.Fatalf("described copy %+v", im)
	}
	if _, err := time.Parse(time.RFC3339, im.CreationTime); err != nil {
		t.Fatalf("CreationTime %q: %v", im.CreationTime, err)
	}

	cc := ecs.CreateCancelCopyImageRequest()
	cc.RegionId = "cn-shanghai"
	cc.ImageId = cpResp.ImageId
	ccResp, err := c.CancelCopyImage(cc)
	if err != nil {
		t.Fatalf("CancelCopyImage: %v", err)
	}
	if ccResp.RequestId == "" || ccResp.GetHttpStatus() != 200 {
		t.Fatalf("CancelCopyImage answer %+v", ccResp)
	}
	if _, ok := sim.Image("cn-shanghai", cpResp.ImageId); ok {
		t.Fatal("cancelled copy still exists")
	}

	// The second cancel is an SDK ServerError carrying the real status.
	cc2 := ecs.CreateCancelCopyImageRequest()
	cc2.RegionId = "cn-shanghai"
	cc2.ImageId = cpResp.ImageId
	_, err = c.CancelCopyImage(cc2)
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != 404 || se.ErrorCode() != ecssim.CodeInvalidImage || se.RequestId() == "" || se.HostId() == "" {
		t.Fatalf("second cancel: %v", err)
	}
	if got := sim.Calls("CancelCopyImage", cpResp.ImageId); got != 2 {
		t.Fatalf("Calls = %d", got)
	}
}

func TestSDKWrongSecret(t *testing.T) {
	_, host := newSim(t)
	c := newClient(t, host, "cn-hangzhou", credentials.NewStaticAKCredentialsProvider(akID, "not-the-secret"))
	req := ecs.CreateDescribeImagesRequest()
	req.RegionId = "cn-hangzhou"
	_, err := c.DescribeImages(req)
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != 400 || se.ErrorCode() != ecssim.CodeSignatureDoesNotMatch {
		t.Fatalf("want SignatureDoesNotMatch, got %v", err)
	}
	// The SDK compares our string to sign with its own: equal strings make
	// it blame the secret, which proves the canonical strings match.
	if !strings.HasPrefix(se.Recommend(), "InvalidAccessKeySecret") {
		t.Fatalf("SDK thinks the strings to sign differ: Recommend %q, Message %q", se.Recommend(), se.Message())
	}
}

func TestSDKUnknownKey(t *testing.T) {
	_, host := newSim(t)
	c := newClient(t, host, "cn-hangzhou", credentials.NewStaticAKCredentialsProvider("nobody", "x"))
	req := ecs.CreateCancelCopyImageRequest()
	req.RegionId = "cn-hangzhou"
	req.ImageId = "m-1"
	_, err := c.CancelCopyImage(req)
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != 404 || se.ErrorCode() != ecssim.CodeAccessKeyNotFound {
		t.Fatalf("got %v", err)
	}
}

func TestSDKSTSCredentials(t *testing.T) {
	sim, host := newSim(t)
	id := sim.AddImage(ecssim.Image{Region: "cn-beijing", IsCopied: true})
	c := newClient(t, host, "cn-beijing", credentials.NewStaticSTSCredentialsProvider(stsID, stsSec, "CAIS+token/with=odd*chars~"))
	req := ecs.CreateCancelCopyImageRequest()
	req.RegionId = "cn-beijing"
	req.ImageId = id
	if _, err := c.CancelCopyImage(req); err != nil {
		t.Fatalf("STS-signed cancel: %v", err)
	}
}

func TestSDKFaults(t *testing.T) {
	sim, host := newSim(t)
	c := newClient(t, host, "cn-hangzhou", credentials.NewStaticAKCredentialsProvider(akID, akSecret))
	describe := func() error {
		req := ecs.CreateDescribeImagesRequest()
		req.RegionId = "cn-hangzhou"
		_, err := c.DescribeImages(req)
		return err
	}
	tests := []struct {
		name   string
		faults ecssim.Faults
		status int
		code   string
	}{
		{"throttled", ecssim.Faults{ThrottleQPS: 0.0001, ThrottleBurst: 1}, 400, ecssim.CodeThrottling},
		{"5xx JSON", ecssim.Faults{ErrorRate: 1}, 0, ""},
		{"502 HTML", ecssim.Faults{RawErrorRate: 1}, 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.SetFaults(tt.faults)
			defer sim.SetFaults(ecssim.Faults{})
			err := describe()
			if tt.name == "throttled" { // the first request used the burst
				err = describe()
			}
			var se *sdkerrors.ServerError
			if !errors.As(err, &se) {
				t.Fatalf("got %v", err)
			}
			switch {
			case tt.status == 0:
				if se.HttpStatus() < 500 || (se.ErrorCode() != ecssim.CodeInternalError && se.ErrorCode() != ecssim.CodeServiceUnavailable) {
					t.Fatalf("got %d %s", se.HttpStatus(), se.ErrorCode())
				}
			case se.HttpStatus() != tt.status || se.ErrorCode() != tt.code:
				t.Fatalf("got %d %q, want %d %q", se.HttpStatus(), se.ErrorCode(), tt.status, tt.code)
			}
		})
	}
	t.Run("dropped connection is a transport error", func(t *testing.T) {
		sim.SetFaults(ecssim.Faults{DropRate: 1})
		defer sim.SetFaults(ecssim.Faults{})
		err := describe()
		var se *sdkerrors.ServerError
		if err == nil || errors.As(err, &se) {
			t.Fatalf("got %v", err)
		}
	})
}
