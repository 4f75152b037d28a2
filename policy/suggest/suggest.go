// Package suggest finds the known word nearest to a mistyped one, for the
// "did you mean" hints of policy files, flags, config keys, commands and
// trigger types. It is the one implementation of those hints. It imports
// only the standard library.
package suggest

import "strings"

// maxDistance is the largest edit distance still taken for a typo: two
// slips (a dropped and a doubled letter) and no more.
const maxDistance = 2

// Closest returns the choice nearest to got within a small edit distance,
// or "" when none is close enough to be a likely typo. The distance must
// also be under half the choice's length, so that "on" is not taken for
// "id". got is compared in lower case; the first of equally near choices
// wins.
func Closest(got string, choices []string) string {
	got = strings.ToLower(got)
	best, bestDist := "", maxDistance+1
	for _, c := range choices {
		if d := Distance(got, c); d < bestDist && d < len(c)/2+1 {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, counted in runes.
func Distance(a, b string) int {
	ar, br := []rune(a), []rune(b)
	prev := make([]int, len(br)+1)
	cur := make([]int, len(br)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ar); i++ {
		cur[0] = i
		for j := 1; j <= len(br); j++ {
			cost := 1
			if ar[i-1] == br[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(br)]
}
