package query

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// CostLimit bounds one evaluation of one expression (for one copy).
// Ordinary policies cost well under 100; the limit only stops
// pathological ones (nested comprehensions over trigger data, runaway
// string building) from stalling the worker.
const CostLimit = 100_000

// Envs holds the two CEL environments: When sees only trigger and now;
// Match also sees copy.
type Envs struct {
	When, Match *cel.Env
}

// Program plans an expression. Metering the cost of every evaluation
// costs about a third of the evaluation itself, so it is only switched on
// for expressions whose static worst case exceeds the limit (comprehensions
// and heavy string functions over input data); the others are bounded
// already.
func Program(env *cel.Env, ast *cel.Ast) (cel.Program, error) {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	est, err := env.EstimateCost(ast, inputBounds{})
	if err == nil && est.Max <= CostLimit {
		return env.Program(ast, opts...)
	}
	prg, err := env.Program(ast, append(opts, cel.CostLimit(CostLimit))...)
	if err != nil {
		return nil, err
	}
	return Metered{prg}, nil
}

// Metered marks a program that tracks its cost. It must be given a fresh
// execution frame on every evaluation (the tracker lives in the frame), so
// it is never handed the reusable frame of an activation.
type Metered struct{ cel.Program }

// IsMetered reports whether Program metered prg.
func IsMetered(prg cel.Program) bool {
	_, ok := prg.(Metered)
	return ok
}

// maxInputSize bounds every string, list and map an expression reads: a
// trigger's data is at most one event body (64 KiB by default), and copy
// fields and tags are far smaller.
const maxInputSize = 64 << 10

// inputBounds tells the cost estimator how large inputs can be.
type inputBounds struct{}

func (inputBounds) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind, types.ListKind, types.MapKind, types.DynKind:
		return &cost.SizeEstimate{Min: 0, Max: maxInputSize}
	}
	return nil
}

// EstimateCallCost prices the optional-value functions, which the
// standard estimator leaves unbounded, as the constant-time calls they are.
func (inputBounds) EstimateCallCost(fn, _ string, _ *cost.AstNode, _ []cost.AstNode) *cost.CallEstimate {
	switch fn {
	case "orValue", "or", "hasValue", "value", "optional.of", "optional.ofNonZeroValue", "optional.none",
		operators.OptSelect, operators.OptIndex:
		size := cost.SizeEstimate{Min: 0, Max: maxInputSize}
		return cost.NewCallEstimate(cost.FixedCostEstimate(1), &size)
	}
	return nil
}
