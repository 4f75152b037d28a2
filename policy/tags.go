package policy

import (
	"reflect"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// tagsMap is copy.tags as CEL sees it. Handing a plain map[string]string
// to CEL costs two allocations per lookup (the value boxed as any, then as
// a CEL string); this named map type answers lookups with one, and being a
// map (a single pointer) it does not allocate itself. Iteration, conversion
// and equality are delegated to cel-go's own map.
type tagsMap map[string]string

var tagsType = types.NewMapType(types.StringType, types.StringType)

func (m tagsMap) std() traits.Mapper {
	return types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string(m))
}

// FindStringKey is the fast path cel-go's interpreter takes for
// copy.tags["k"] and copy.tags.k.
func (m tagsMap) FindStringKey(k string) (any, bool) {
	v, found := m[k]
	if !found {
		return nil, false
	}
	return types.String(v), true
}

func (m tagsMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return m.std().Find(key)
	}
	v, found := m[string(k)]
	if !found {
		return nil, false
	}
	return types.String(v), true
}

func (m tagsMap) Get(key ref.Val) ref.Val {
	if v, found := m.Find(key); found {
		return v
	}
	return m.std().Get(key)
}

func (m tagsMap) Contains(key ref.Val) ref.Val {
	_, found := m.Find(key)
	return types.Bool(found)
}

func (m tagsMap) Size() ref.Val                               { return types.Int(len(m)) }
func (m tagsMap) IsZeroValue() bool                           { return len(m) == 0 }
func (m tagsMap) Type() ref.Type                              { return tagsType }
func (m tagsMap) Value() any                                  { return map[string]string(m) }
func (m tagsMap) Equal(o ref.Val) ref.Val                     { return m.std().Equal(o) }
func (m tagsMap) Iterator() traits.Iterator                   { return m.std().Iterator() }
func (m tagsMap) ConvertToNative(t reflect.Type) (any, error) { return m.std().ConvertToNative(t) }
func (m tagsMap) ConvertToType(t ref.Type) ref.Val            { return m.std().ConvertToType(t) }
