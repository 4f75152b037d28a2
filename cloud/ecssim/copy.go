package ecssim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTags is the documented limit on Tag.N for CopyImage and DescribeImages.
const maxTags = 20

type copyImageResponse struct {
	RequestId string
	ImageId   string
}

// copyImage starts a copy of an Available image into another region and
// returns the new copy's id there (ecs-api.md §2).
func (s *Server) copyImage(reqID string, p map[string]string) (any, *apiError) {
	srcID := p["ImageId"]
	if srcID == "" {
		return nil, missing("ImageId")
	}
	dest := p["DestinationRegionId"]
	if dest == "" {
		// The docs mark it optional without saying what happens; a copy
		// needs somewhere to go, so the simulator insists.
		return nil, missing("DestinationRegionId")
	}
	name, hasName := p["DestinationImageName"]
	if hasName && !validImageName(name) {
		return nil, errorf(http.StatusBadRequest, CodeImageNameMalformed, "The specified destination image name is wrongly formed.")
	}
	if d, ok := p["DestinationDescription"]; ok && !validDescription(d) {
		return nil, errorf(http.StatusBadRequest, CodeDescriptionMalformed, "The specified destination description is wrongly formed.")
	}
	if p["KMSKeyId"] != "" && p["Encrypted"] != "true" {
		return nil, errorf(http.StatusBadRequest, CodeEncryptedIllegal, "KMSKeyId can only be set when Encrypted is true.")
	}
	tags, aerr := readTags(p)
	if aerr != nil {
		return nil, aerr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.images[p["RegionId"]]
	if !ok {
		return nil, regionNotFound()
	}
	if _, ok := s.images[dest]; !ok {
		return nil, errorf(http.StatusBadRequest, CodeDestinationNotFound, "The destination region not found.")
	}
	if dest == p["RegionId"] {
		return nil, errorf(http.StatusForbidden, CodeIncorrectDestination, "The destination region must differ from the source region.")
	}
	im, ok := src.byID[srcID]
	if !ok {
		return nil, imageNotFound()
	}
	now := s.now()
	if status, _ := im.state(now, s.timing); status != StatusAvailable {
		return nil, errorf(http.StatusBadRequest, CodeIncorrectImageStatus, "The image not available.")
	}
	if !hasName {
		name = im.Name
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.key] = t.value
	}
	cp := Image{
		Region:          dest,
		Name:            name,
		Description:     p["DestinationDescription"],
		ResourceGroupID: p["ResourceGroupId"],
		OwnerAlias:      "self",
		IsCopied:        true,
		SourceImageID:   im.ID,
		SourceRegion:    im.Region,
		SizeGB:          im.SizeGB,
		Tags:            m,
		Created:         now,
		WaitFor:         im.WaitFor,
		CopyTime:        im.CopyTime,
		Fail:            im.Fail,
	}
	id, err := s.seedLocked(cp)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, CodeInternalError, "%s", err.Error())
	}
	return copyImageResponse{RequestId: reqID, ImageId: id}, nil
}

type tag struct{ key, value string }

// readTags reads Tag.N.Key / Tag.N.Value for N in 1..20. Any other N, or a
// value without a key, is an error.
func readTags(p map[string]string) ([]tag, *apiError) {
	var tags []tag
	for k := range p {
		rest, ok := strings.CutPrefix(k, "Tag.")
		if !ok {
			continue
		}
		n, field, ok := strings.Cut(rest, ".")
		if !ok || (field != "Key" && field != "Value") {
			continue
		}
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 || i > maxTags || strconv.Itoa(i) != n {
			return nil, errorf(http.StatusBadRequest, CodeTagCount, "The maximum number of tags is %d.", maxTags)
		}
	}
	for i := 1; i <= maxTags; i++ {
		key, hasKey := p[fmt.Sprintf("Tag.%d.Key", i)]
		value, hasValue := p[fmt.Sprintf("Tag.%d.Value", i)]
		if !hasKey && !hasValue {
			continue
		}
		if key == "" || utf8.RuneCountInString(key) > 128 {
			return nil, errorf(http.StatusBadRequest, CodeTagKeyMalformed, "The specified Tag.%d.Key is wrongly formed.", i)
		}
		tags = append(tags, tag{key, value})
	}
	return tags, nil
}

// validImageName applies the documented DestinationImageName rules: 2-128
// characters, starting with a letter, not with "acs:" or "aliyun", no
// http(s)://, and only letters, digits, '.', ':', '_' and '-'.
func validImageName(n string) bool {
	l := utf8.RuneCountInString(n)
	if l < 2 || l > 128 {
		return false
	}
	first, _ := utf8.DecodeRuneInString(n)
	if !unicode.IsLetter(first) || strings.HasPrefix(n, "acs:") || strings.HasPrefix(n, "aliyun") ||
		strings.Contains(n, "http://") || strings.Contains(n, "https://") {
		return false
	}
	for _, r := range n {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".:_-", r) {
			return false
		}
	}
	return true
}

func validDescription(d string) bool {
	l := utf8.RuneCountInString(d)
	return l >= 2 && l <= 256 && !strings.HasPrefix(d, "http://") && !strings.HasPrefix(d, "https://")
}
