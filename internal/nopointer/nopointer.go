// Package nopointer tells whether a type holds a pointer, for the tests of state kept
// where the garbage collector should have nothing to follow.
package nopointer

import "reflect"

// In returns the path, from name, of the first field of t that holds a pointer (a
// pointer, slice, map, string, channel, function or interface), or "" if none does.
func In(t reflect.Type, name string) string {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if p := In(t.Field(i).Type, name+"."+t.Field(i).Name); p != "" {
				return p
			}
		}
	case reflect.Array:
		return In(t.Elem(), name+"[]")
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Chan, reflect.Func, reflect.Interface, reflect.UnsafePointer:
		return name
	}
	return ""
}
