package policy

import (
	"fmt"
	"regexp"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// MaxPatternSize bounds a `matches` pattern, in bytes. CEL's cost limit
// does not bound compiling a regular expression, and Go's compiler is
// slow on large ones (a 1 MB pattern from trigger data took minutes).
// Real patterns are tens of bytes; 4 KiB still holds an alternation of
// about a hundred image names, and compiles in well under a millisecond.
const MaxPatternSize = 4 << 10

// maxCachedPatterns bounds the compiled patterns a Set keeps: a pattern
// from trigger data is compiled once, not once per copy, and a stream of
// distinct patterns cannot grow the cache.
const maxCachedPatterns = 64

// regexLib replaces the standard library's `matches` with one that
// refuses patterns over MaxPatternSize (at load time for literals, at
// evaluation for patterns computed from the trigger) and compiles each
// pattern once.
func regexLib(cache *regexCache) []cel.EnvOption {
	match := func(str, pat ref.Val) ref.Val {
		s, ok := str.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(str)
		}
		p, ok := pat.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(pat)
		}
		re, err := cache.compile(string(p))
		if err != nil {
			return types.WrapErr(err)
		}
		return types.Bool(re.MatchString(string(s)))
	}
	return []cel.EnvOption{
		cel.StdLib(cel.StdLibSubset(env.NewLibrarySubset().AddExcludedFunctions(env.NewFunction(overloads.Matches)))),
		cel.Function(overloads.Matches,
			cel.Overload(overloads.Matches, []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType),
			cel.MemberOverload(overloads.MatchesString, []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType),
			cel.SingletonBinaryBinding(match)),
		cel.ASTValidators(patternSizeValidator{}),
	}
}

// regexCache holds compiled patterns, and the error of a pattern that does
// not compile (so that it is not compiled again for every copy either).
type regexCache struct {
	mu sync.RWMutex
	m  map[string]compiled
	// compiles counts compilations, for tests.
	compiles int
}

type compiled struct {
	re  *regexp.Regexp
	err error
}

func newRegexCache() *regexCache { return &regexCache{m: map[string]compiled{}} }

func (c *regexCache) compile(pattern string) (*regexp.Regexp, error) {
	// Checked before the cache, so that a huge pattern costs nothing but
	// its length.
	if len(pattern) > MaxPatternSize {
		return nil, patternTooLong(len(pattern))
	}
	c.mu.RLock()
	e, ok := c.m[pattern]
	c.mu.RUnlock()
	if ok {
		return e.re, e.err
	}
	re, err := regexp.Compile(pattern)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedPatterns {
		clear(c.m)
	}
	c.m[pattern] = compiled{re, err}
	c.compiles++
	return re, err
}

func patternTooLong(n int) error {
	return fmt.Errorf("regex pattern of %d bytes is over the limit of %d", n, MaxPatternSize)
}

// patternSizeValidator refuses, at load time, a literal pattern over
// MaxPatternSize, at the literal's position.
type patternSizeValidator struct{}

func (patternSizeValidator) Name() string { return "copyguard.pattern_size" }

func (patternSizeValidator) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *celast.AST, iss *cel.Issues) {
	for _, e := range celast.MatchDescendants(celast.NavigateAST(a), celast.FunctionMatcher(overloads.Matches)) {
		call := e.AsCall()
		args := call.Args()
		i := 1 // matches(s, pattern)
		if call.IsMemberFunction() {
			i = 0 // s.matches(pattern)
		}
		if i >= len(args) || args[i].Kind() != celast.LiteralKind {
			continue
		}
		if p, ok := args[i].AsLiteral().Value().(string); ok && len(p) > MaxPatternSize {
			iss.ReportErrorAtID(args[i].ID(), "%s", patternTooLong(len(p)).Error())
		}
	}
}
