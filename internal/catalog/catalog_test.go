package catalog

import (
	"reflect"
	"testing"
	"time"
)

// fill sets every exported field of the struct v points to a non-zero value,
// so that a field added later is covered by the clone tests without editing
// them.
func fill(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		name := rv.Type().Field(i).Name
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)))
		case f.Kind() == reflect.String:
			f.SetString(name + "-value")
		case f.Kind() == reflect.Int:
			f.SetInt(int64(i + 1))
		case f.Kind() == reflect.Map && f.Type().Key().Kind() == reflect.String && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf(map[string]string{"k": name}))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			f.SetBytes([]byte(`{"field":"` + name + `"}`))
		default:
			t.Fatalf("fill: field %s has kind %s: teach fill (and Clone) about it", name, f.Kind())
		}
	}
}

// checkDeep reports fields of the structs orig and clone point to that are
// unequal or that share memory.
func checkDeep(t *testing.T, orig, clone any) {
	t.Helper()
	if !reflect.DeepEqual(orig, clone) {
		t.Fatalf("clone differs:\n got %+v\nwant %+v", clone, orig)
	}
	o, c := reflect.ValueOf(orig).Elem(), reflect.ValueOf(clone).Elem()
	if o.Addr().Pointer() == c.Addr().Pointer() {
		t.Fatal("Clone returned the same pointer")
	}
	for i := range o.NumField() {
		switch o.Field(i).Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer:
			if o.Field(i).Pointer() == c.Field(i).Pointer() {
				t.Errorf("field %s shares memory with the original", o.Type().Field(i).Name)
			}
		}
	}
}

func TestStreamClone(t *testing.T) {
	var s Stream
	fill(t, &s)
	c := s.Clone()
	checkDeep(t, &s, c)

	c.Tags["k"] = "changed"
	c.Edge[2] = 'X'
	if s.Tags["k"] != "Tags" || s.Edge[2] != 'f' {
		t.Fatalf("changing the clone changed the original: %+v", s)
	}
	if (*Stream)(nil).Clone() != nil {
		t.Fatal("nil.Clone() != nil")
	}
	var empty Stream
	if e := empty.Clone(); e.Tags != nil || e.Edge != nil {
		t.Fatalf("Clone turned nil fields into empty ones: %+v", e)
	}
}

func TestChannelClone(t *testing.T) {
	var ch Channel
	fill(t, &ch)
	c := ch.Clone()
	checkDeep(t, &ch, c)

	c.Tags["k"] = "changed"
	c.MediaStorage[2] = 'X'
	if ch.Tags["k"] != "Tags" || ch.MediaStorage[2] != 'f' {
		t.Fatalf("changing the clone changed the original: %+v", ch)
	}
	if (*Channel)(nil).Clone() != nil {
		t.Fatal("nil.Clone() != nil")
	}
	var empty Channel
	if e := empty.Clone(); e.Tags != nil || e.MediaStorage != nil {
		t.Fatalf("Clone turned nil fields into empty ones: %+v", e)
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"cam-1", true},
		{"Front_Door.2", true},
		{"é", true},
		{"", false},
		{"\xff", false},
		{"a\xc3", false},
		{"a\x00b", false},
	}
	for _, tc := range tests {
		if err := CheckName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
