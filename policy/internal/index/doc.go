// Package index owns the storage behind policy.CopyIndex: a slot table of
// copies with secondary indexes by region, image id and tag, and the
// locked lookups the evaluator narrows candidates with.
//
// It knows copies and strings, not CEL: which conjunct of a match gives
// the values to look up is decided in policy/internal/query. It must not
// import CEL, the policy package or any adapter.
package index
