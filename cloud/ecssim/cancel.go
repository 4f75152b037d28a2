package ecssim

import "net/http"

type cancelCopyImageResponse struct {
	RequestId string
}

// cancelCopyImage stops an in-flight copy: RegionId is the destination
// region and ImageId the copy's id (ecs-api.md §1). A cancelled copy is
// deleted, as the 2021-2026 docs say, so a second cancel finds nothing.
func (s *Server) cancelCopyImage(reqID string, p map[string]string) (any, *apiError) {
	id := p["ImageId"]
	if id == "" {
		return nil, missing("ImageId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.images[p["RegionId"]]
	if !ok {
		return nil, regionNotFound()
	}
	im, ok := r.byID[id]
	if !ok {
		return nil, imageNotFound()
	}
	if !im.IsCopied {
		return nil, errorf(http.StatusBadRequest, CodeNotFromCopy,
			"The specified image is not the target image of a copy action.")
	}
	switch status, _ := im.state(s.now(), s.timing); status {
	case StatusWaiting, StatusCreating:
		r.remove(id)
		return cancelCopyImageResponse{RequestId: reqID}, nil
	case StatusAvailable:
		return nil, errorf(http.StatusBadRequest, CodeIncorrectImageStatus, "The image is copied finished.")
	case StatusCreateFailed:
		return nil, errorf(http.StatusBadRequest, CodeIncorrectImageStatus, "The Image copy has been failed.")
	default:
		return nil, errorf(http.StatusBadRequest, CodeIncorrectImageStatus, "The specified image is not coping.")
	}
}
