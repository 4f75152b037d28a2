package ecssim

import (
	"fmt"
	"time"
)

// AddDemoCopies seeds n in-flight copies spread round-robin over the known
// regions (at least two are needed; with fewer it seeds nothing), each copied
// from an Available source image in the next region, and returns their ids.
// Timings and tags are drawn from the server's generator (Config.Seed makes
// them reproducible) so that demos show a mix of Waiting and Creating copies
// with different progress, some of which would fail.
func (s *Server) AddDemoCopies(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.regions) < 2 || n <= 0 {
		return nil
	}
	now := s.now()
	sources := make(map[string]string, len(s.regions))
	for _, region := range s.regions {
		id, err := s.seedLocked(Image{
			Region:  region,
			Name:    "copyguard-demo-base",
			SizeGB:  DefaultSizeGB,
			Tags:    map[string]string{"copyguard-demo": "source"},
			Created: now.Add(-24 * time.Hour),
		})
		if err != nil {
			return nil // cannot happen: the region is known and the id is generated
		}
		sources[region] = id
	}
	apps := []string{"web", "api", "db", "batch"}
	envs := []string{"prod", "staging", "dev"}
	ids := make([]string, 0, n)
	for i := range n {
		dest := s.regions[i%len(s.regions)]
		src := s.regions[(i+1)%len(s.regions)]
		wait := time.Duration(s.rng.IntN(120)) * time.Second
		copyTime := time.Duration(10+s.rng.IntN(50)) * time.Minute
		// Backdate some copies so the demo starts with progress under way.
		age := time.Duration(s.rng.Int64N(int64(wait + copyTime/2)))
		id, err := s.seedLocked(Image{
			Region:        dest,
			Name:          fmt.Sprintf("demo-copy-%d", i+1),
			IsCopied:      true,
			SourceImageID: sources[src],
			SourceRegion:  src,
			SizeGB:        20 * (1 + s.rng.IntN(5)),
			Tags: map[string]string{
				"copyguard-demo": "copy",
				"app":            apps[s.rng.IntN(len(apps))],
				"env":            envs[s.rng.IntN(len(envs))],
			},
			Created:  now.Add(-age),
			WaitFor:  wait,
			CopyTime: copyTime,
			Fail:     s.rng.IntN(20) == 0,
		})
		if err != nil {
			return ids
		}
		ids = append(ids, id)
	}
	return ids
}
