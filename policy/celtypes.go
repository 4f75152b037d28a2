package policy

import (
	"fmt"
	"reflect"
	"sort"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/copyguard/copyguard/cloud"
)

// CEL type names of the two object variables. They are declared as object
// types (not maps) so that a misspelt field such as copy.tagz is a type error
// at load time instead of a "no such key" at 3 a.m.
const (
	copyTypeName    = "copyguard.Copy"
	triggerTypeName = "copyguard.Trigger"
)

var (
	copyType    = types.NewObjectType(copyTypeName)
	triggerType = types.NewObjectType(triggerTypeName)
)

// field describes one field of an object type: its CEL type, how to read it
// from the Go value and whether it counts as set for has().
//
// get may return a plain Go map: cel-go's interpreter indexes
// map[string]any directly, so trigger.data.scope.tags["k"] costs three map
// lookups with no wrapper allocated (copy.tags has its own type, tagsMap).
type field struct {
	typ   *types.Type
	get   func(obj any) any
	isSet func(obj any) bool
}

// copyFields is the whole CEL view of a copy. It is a hand-written table
// rather than ext.NativeTypes over cloud.Copy because the table names the
// snake_case fields exactly as the spec does, needs no struct tags in the
// cloud package, and reads fields without reflection on the hot path.
var copyFields = map[string]field{
	"image_id":          strField(func(c *cloud.Copy) string { return c.ImageID }),
	"region":            strField(func(c *cloud.Copy) string { return c.Region }),
	"source_image_id":   strField(func(c *cloud.Copy) string { return c.SourceImageID }),
	"source_region":     strField(func(c *cloud.Copy) string { return c.SourceRegion }),
	"status":            strField(func(c *cloud.Copy) string { return c.Status }),
	"name":              strField(func(c *cloud.Copy) string { return c.Name }),
	"resource_group_id": strField(func(c *cloud.Copy) string { return c.ResourceGroupID }),
	"progress":          intField(func(c *cloud.Copy) int { return c.Progress }),
	"size_gb":           intField(func(c *cloud.Copy) int { return c.SizeGB }),
	"tags": {
		typ:   types.NewMapType(types.StringType, types.StringType),
		get:   func(obj any) any { return tagsMap(obj.(*cloud.Copy).Tags) },
		isSet: func(obj any) bool { return len(obj.(*cloud.Copy).Tags) > 0 },
	},
	"started_at": {
		typ:   types.TimestampType,
		get:   func(obj any) any { return types.Timestamp{Time: obj.(*cloud.Copy).StartedAt} },
		isSet: func(obj any) bool { return !obj.(*cloud.Copy).StartedAt.IsZero() },
	},
}

func strField(f func(*cloud.Copy) string) field {
	return field{
		typ:   types.StringType,
		get:   func(obj any) any { return types.String(f(obj.(*cloud.Copy))) },
		isSet: func(obj any) bool { return f(obj.(*cloud.Copy)) != "" },
	}
}

func intField(f func(*cloud.Copy) int) field {
	return field{
		typ:   types.IntType,
		get:   func(obj any) any { return types.Int(f(obj.(*cloud.Copy))) },
		isSet: func(obj any) bool { return f(obj.(*cloud.Copy)) != 0 },
	}
}

// triggerObj is a trigger as CEL sees it. Its scalar fields are converted
// once per evaluation rather than once per copy.
type triggerObj struct {
	id, typ, source, subject ref.Val
	time                     ref.Val
	data                     map[string]any
}

func newTriggerObj(t *Trigger) *triggerObj {
	data := t.Data
	if data == nil {
		data = map[string]any{}
	}
	return &triggerObj{
		id: types.String(t.ID), typ: types.String(t.Type),
		source: types.String(t.Source), subject: types.String(t.Subject),
		time: types.Timestamp{Time: t.Time},
		data: data,
	}
}

var triggerFields = map[string]field{
	"id":      trigStr(func(t *triggerObj) ref.Val { return t.id }),
	"type":    trigStr(func(t *triggerObj) ref.Val { return t.typ }),
	"source":  trigStr(func(t *triggerObj) ref.Val { return t.source }),
	"subject": trigStr(func(t *triggerObj) ref.Val { return t.subject }),
	"time": {
		typ:   types.TimestampType,
		get:   func(obj any) any { return obj.(*triggerObj).time },
		isSet: func(obj any) bool { return !obj.(*triggerObj).time.(types.Timestamp).IsZero() },
	},
	"data": {
		typ:   types.NewMapType(types.StringType, types.DynType),
		get:   func(obj any) any { return obj.(*triggerObj).data },
		isSet: func(obj any) bool { return len(obj.(*triggerObj).data) > 0 },
	},
}

func trigStr(f func(*triggerObj) ref.Val) field {
	return field{
		typ:   types.StringType,
		get:   func(obj any) any { return f(obj.(*triggerObj)) },
		isSet: func(obj any) bool { return f(obj.(*triggerObj)) != types.String("") },
	}
}

// objectTypes layers the two object types over the environment's own
// provider (which knows the standard and well-known types).
type objectTypes struct {
	types.Provider
	structs map[string]map[string]field
}

func newObjectTypes(base types.Provider) *objectTypes {
	return &objectTypes{Provider: base, structs: map[string]map[string]field{
		copyTypeName:    copyFields,
		triggerTypeName: triggerFields,
	}}
}

func (p *objectTypes) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.structs[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Provider.FindStructType(name)
}

func (p *objectTypes) FindStructFieldNames(name string) ([]string, bool) {
	fields, ok := p.structs[name]
	if !ok {
		return p.Provider.FindStructFieldNames(name)
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, true
}

func (p *objectTypes) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	fields, ok := p.structs[name]
	if !ok {
		return p.Provider.FindStructFieldType(name, fieldName)
	}
	f, ok := fields[fieldName]
	if !ok {
		return nil, false
	}
	return &types.FieldType{
		Type: f.typ,
		IsSet: func(obj any) bool {
			switch obj.(type) {
			case *cloud.Copy, *triggerObj:
				return f.isSet(obj)
			}
			return false
		},
		GetFrom: func(obj any) (any, error) {
			switch obj.(type) {
			case *cloud.Copy, *triggerObj:
				return f.get(obj), nil
			}
			return nil, fmt.Errorf("no field %q on %T", fieldName, obj)
		},
	}, true
}

// NewValue refuses to build copies or triggers inside an expression: they
// only ever come from the inventory and the event.
func (p *objectTypes) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.structs[name]; ok {
		return types.NewErr("%s values cannot be created in an expression", name)
	}
	return p.Provider.NewValue(name, fields)
}

// copyVal is the ref.Val of the copy variable. It is a single pointer so
// that putting it in an interface does not allocate.
type copyVal struct{ c *cloud.Copy }

func (v copyVal) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeOf(v.c) {
		return v.c, nil
	}
	if t == reflect.TypeOf(*v.c) {
		return *v.c, nil
	}
	return nil, fmt.Errorf("cannot convert %s to %v", copyTypeName, t)
}

func (v copyVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return copyType
	}
	return types.NewErr("cannot convert %s to %s", copyTypeName, t.TypeName())
}

// Equal compares identity: two copies are the same copy when their
// (region, image_id) are.
func (v copyVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(copyVal)
	return types.Bool(ok && o.c.Region == v.c.Region && o.c.ImageID == v.c.ImageID)
}

func (v copyVal) Type() ref.Type { return copyType }
func (v copyVal) Value() any     { return v.c }

func (t *triggerObj) ConvertToNative(rt reflect.Type) (any, error) {
	return nil, fmt.Errorf("cannot convert %s to %v", triggerTypeName, rt)
}

func (t *triggerObj) ConvertToType(typ ref.Type) ref.Val {
	if typ == types.TypeType {
		return triggerType
	}
	return types.NewErr("cannot convert %s to %s", triggerTypeName, typ.TypeName())
}

func (t *triggerObj) Equal(other ref.Val) ref.Val { return types.Bool(other == ref.Val(t)) }
func (t *triggerObj) Type() ref.Type              { return triggerType }
func (t *triggerObj) Value() any                  { return t }
