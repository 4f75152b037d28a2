package query

import (
	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
)

// CopyFields returns the fields of `copy` an expression selects
// (copy.progress gives "progress"; copy.tags["k"] and copy.tags.k give
// "tags"). all is true when the expression uses copy in any other way
// (copy passed whole, indexed with a computed key, a comprehension over
// it, or a variable that shadows it): then it may read every field.
func CopyFields(ast *cel.Ast) (fields map[string]bool, all bool) {
	fields = map[string]bool{}
	if ast == nil {
		return fields, false
	}
	selected := map[int64]bool{} // ids of copy idents seen as a select's operand
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if isCopy(sel.Operand()) {
				// has(copy.x) reads whether x is set: a read too.
				selected[sel.Operand().ID()] = true
				fields[sel.FieldName()] = true
			}
		case celast.IdentKind:
			if e.AsIdent() == "copy" && !selected[e.ID()] {
				all = true
			}
		case celast.ComprehensionKind:
			c := e.AsComprehension()
			for _, v := range []string{c.IterVar(), c.IterVar2(), c.AccuVar()} {
				if v == "copy" {
					all = true
				}
			}
		}
	}))
	return fields, all
}
