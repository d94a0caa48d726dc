// Package catalogtest is the conformance suite every catalog.Store
// implementation must pass.
//
// A backend's tests call Run with a function that opens a new, empty store:
//
//	func TestConformance(t *testing.T) {
//		catalogtest.Run(t, func(t *testing.T) catalog.Store {
//			s, err := Open(Config{Path: filepath.Join(t.TempDir(), "catalog.db")})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Besides what the catalog.Store documentation states, the suite pins down
// these rules, which every backend must follow:
//
//   - Names are ordered byte-wise, as Go compares strings ("B" < "a" < "a-b" <
//     "a_b" < "ab"), never by a locale collation. Prefix matching is
//     case-sensitive. ListOptions.After is exclusive and combines with Prefix
//     and Limit; paging with After set to the last name of the previous page
//     visits every record once.
//   - A store never shares memory with its callers: the record passed to
//     CreateX, the records returned by GetX, ListX and UpdateX, and the copy
//     UpdateX hands to fn may all be changed freely afterwards.
//   - Times come back in UTC and within a millisecond of what was stored (a
//     backend may truncate to milliseconds or microseconds).
//   - json.RawMessage fields come back as equivalent JSON (whitespace and key
//     order may change); an absent one stays absent. Nil and empty tag maps
//     are interchangeable.
//   - UpdateX returns fn's error unchanged (errors.Is holds), stores nothing
//     when fn fails, does not call fn when the record does not exist, and
//     refuses (with an error, storing nothing) an fn that changes the name.
//     fn must not call back into the store.
//   - Concurrent UpdateX calls on one record are serializable: none is lost.
//     Of concurrent CreateX calls for one name exactly one succeeds; the others
//     get ErrExists.
//   - CreateX refuses an empty name. Streams and channels are separate
//     namespaces: a stream and a channel may share a name.
//   - A canceled context makes every method fail with an error matching
//     context.Canceled, without effect.
//   - After Close every method fails with catalog.ErrClosed; a second Close
//     returns nil or ErrClosed. Calls racing with Close either complete or
//     fail with ErrClosed.
package catalogtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/catalog"
)

// Run runs the conformance suite against the stores newStore opens. Each
// call of newStore must return a new, empty, open store and arrange (with
// t.Cleanup) to close it and remove what it created. Closing a store twice
// must be harmless.
func Run(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	t.Run("Stream", func(t *testing.T) { runKind(t, newStore, streams()) })
	t.Run("Channel", func(t *testing.T) { runKind(t, newStore, channels()) })
	t.Run("SeparateNamespaces", func(t *testing.T) { testSeparateNamespaces(t, newStore(t)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, newStore(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, newStore(t)) })
	t.Run("CloseWhileBusy", func(t *testing.T) { testCloseWhileBusy(t, newStore(t)) })
}

// kind adapts the suite to one record type, so that every test runs the same
// way for streams and channels.
type kind[T any] struct {
	create func(context.Context, catalog.Store, *T) error
	get    func(context.Context, catalog.Store, string) (*T, error)
	update func(context.Context, catalog.Store, string, func(*T) error) (*T, error)
	del    func(context.Context, catalog.Store, string) error
	list   func(context.Context, catalog.Store, catalog.ListOptions) ([]*T, error)
	count  func(context.Context, catalog.Store) (int, error)

	// sample returns a record named name with every field set.
	sample func(name string) *T
	// name returns a pointer to the record's name.
	name func(*T) *string
	// counter returns a pointer to an int field the tests increment.
	counter func(*T) *int
	// tags returns a pointer to the record's tags.
	tags func(*T) *map[string]string
	// raw returns a pointer to one of the record's JSON fields.
	raw func(*T) *json.RawMessage
}

func streams() kind[catalog.Stream] {
	return kind[catalog.Stream]{
		create: func(ctx context.Context, st catalog.Store, s *catalog.Stream) error { return st.CreateStream(ctx, s) },
		get: func(ctx context.Context, st catalog.Store, n string) (*catalog.Stream, error) {
			return st.GetStream(ctx, n)
		},
		update: func(ctx context.Context, st catalog.Store, n string, fn func(*catalog.Stream) error) (*catalog.Stream, error) {
			return st.UpdateStream(ctx, n, fn)
		},
		del: func(ctx context.Context, st catalog.Store, n string) error { return st.DeleteStream(ctx, n) },
		list: func(ctx context.Context, st catalog.Store, o catalog.ListOptions) ([]*catalog.Stream, error) {
			return st.ListStreams(ctx, o)
		},
		count:   func(ctx context.Context, st catalog.Store) (int, error) { return st.CountStreams(ctx) },
		sample:  SampleStream,
		name:    func(s *catalog.Stream) *string { return &s.Name },
		counter: func(s *catalog.Stream) *int { return &s.DataRetentionInHours },
		tags:    func(s *catalog.Stream) *map[string]string { return &s.Tags },
		raw:     func(s *catalog.Stream) *json.RawMessage { return &s.ImageGeneration },
	}
}

func channels() kind[catalog.Channel] {
	return kind[catalog.Channel]{
		create: func(ctx context.Context, st catalog.Store, c *catalog.Channel) error { return st.CreateChannel(ctx, c) },
		get: func(ctx context.Context, st catalog.Store, n string) (*catalog.Channel, error) {
			return st.GetChannel(ctx, n)
		},
		update: func(ctx context.Context, st catalog.Store, n string, fn func(*catalog.Channel) error) (*catalog.Channel, error) {
			return st.UpdateChannel(ctx, n, fn)
		},
		del: func(ctx context.Context, st catalog.Store, n string) error { return st.DeleteChannel(ctx, n) },
		list: func(ctx context.Context, st catalog.Store, o catalog.ListOptions) ([]*catalog.Channel, error) {
			return st.ListChannels(ctx, o)
		},
		count:   func(ctx context.Context, st catalog.Store) (int, error) { return st.CountChannels(ctx) },
		sample:  SampleChannel,
		name:    func(c *catalog.Channel) *string { return &c.Name },
		counter: func(c *catalog.Channel) *int { return &c.MessageTTLSeconds },
		tags:    func(c *catalog.Channel) *map[string]string { return &c.Tags },
		raw:     func(c *catalog.Channel) *json.RawMessage { return &c.MediaStorage },
	}
}

// sampleTime has nanoseconds and a zone other than UTC, so that the suite
// sees both being normalized.
var sampleTime = time.Date(2024, 2, 29, 23, 59, 58, 987654321, time.FixedZone("IST", 5*3600+1800))

// SampleStream returns a stream named name with every field set, including
// JSON configurations with whitespace and nesting. Backend tests and
// benchmarks may use it.
func SampleStream(name string) *catalog.Stream {
	return &catalog.Stream{
		Name:                 name,
		ARN:                  "arn:aws:kinesisvideo:us-west-2:123456789012:stream/" + name + "/1709231398987",
		DeviceName:           "camera-frontdoor",
		MediaType:            "video/h264,audio/aac",
		KmsKeyID:             "arn:aws:kms:us-west-2:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
		Version:              "Mjk0OTcyOTYwMTc2MjA4",
		Status:               catalog.StatusActive,
		CreationTime:         sampleTime,
		DataRetentionInHours: 24,
		Tags:                 map[string]string{"team": "video", "env": "dev", "unicodé": "värde ✓", "empty": ""},
		StorageTier:          "HOT",
		ImageGeneration: json.RawMessage(`{
			"Status": "ENABLED", "ImageSelectorType": "PRODUCER_TIMESTAMP",
			"DestinationConfig": {"Uri": "s3://bucket/images", "DestinationRegion": "us-west-2"},
			"SamplingInterval": 3000, "Format": "JPEG",
			"FormatConfig": {"JPEGQuality": "80"}, "WidthPixels": 1280, "HeightPixels": 720}`),
		Notification: json.RawMessage(`{"Status":"ENABLED","DestinationConfig":{"Uri":"arn:aws:sns:us-west-2:123456789012:topic"}}`),
		Edge: json.RawMessage(`{"HubDeviceArn":"arn:aws:iot:us-west-2:123456789012:thing/hub",
			"RecorderConfig":{"MediaSourceConfig":{"MediaUriSecretArn":"arn:aws:secretsmanager:x","MediaUriType":"RTSP_URI"},
			"ScheduleConfig":{"ScheduleExpression":"0 0 * * * ?","DurationInSeconds":3600}},
			"SyncStatus":"SYNCING","Ratio":0.5,"Flags":[true,false,null]}`),
	}
}

// SampleChannel returns a channel named name with every field set. Backend
// tests and benchmarks may use it.
func SampleChannel(name string) *catalog.Channel {
	return &catalog.Channel{
		Name:              name,
		ARN:               "arn:aws:kinesisvideo:us-west-2:123456789012:channel/" + name + "/1709231398987",
		Type:              "SINGLE_MASTER",
		Status:            catalog.StatusActive,
		Version:           "MTcwOTIzMTM5ODk4Nw",
		CreationTime:      sampleTime,
		MessageTTLSeconds: 60,
		Tags:              map[string]string{"site": "warehouse-7", "unicodé": "värde ✓"},
		MediaStorage: json.RawMessage(`{ "StreamARN": "arn:aws:kinesisvideo:us-west-2:123456789012:stream/s/1",
			"Status": "ENABLED" }`),
	}
}

func runKind[T any](t *testing.T, newStore func(*testing.T) catalog.Store, k kind[T]) {
	tests := []struct {
		name string
		run  func(*testing.T, catalog.Store, kind[T])
	}{
		{"CreateGet", testCreateGet[T]},
		{"ZeroRecord", testZeroRecord[T]},
		{"CreateExists", testCreateExists[T]},
		{"EmptyName", testEmptyName[T]},
		{"GetNotFound", testGetNotFound[T]},
		{"Update", testUpdate[T]},
		{"UpdateNotFound", testUpdateNotFound[T]},
		{"UpdateFnError", testUpdateFnError[T]},
		{"UpdateRename", testUpdateRename[T]},
		{"Delete", testDelete[T]},
		{"Count", testCount[T]},
		{"List", testList[T]},
		{"ListPaging", testListPaging[T]},
		{"DeepCopy", testDeepCopy[T]},
		{"ConcurrentUpdate", testConcurrentUpdate[T]},
		{"ConcurrentCreate", testConcurrentCreate[T]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t), k) })
	}
}

func testCreateGet[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	want := k.sample("cam-1")
	if err := k.create(ctx, st, k.sample("cam-1")); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := k.get(ctx, st, "cam-1")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Fatalf("get after create:\n%s", d)
	}
}

func testZeroRecord[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	rec := new(T)
	*k.name(rec) = "bare"
	if err := k.create(ctx, st, rec); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := k.get(ctx, st, "bare")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if d := diff(rec, got); d != "" {
		t.Fatalf("record with only a name:\n%s", d)
	}
	if len(*k.raw(got)) != 0 {
		t.Fatalf("absent JSON field came back as %q", *k.raw(got))
	}
}

func testCreateExists[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	first := k.sample("dup")
	if err := k.create(ctx, st, first); err != nil {
		t.Fatalf("create: %v", err)
	}
	second := k.sample("dup")
	*k.counter(second) = 999
	if err := k.create(ctx, st, second); !errors.Is(err, catalog.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	got := mustGet(t, st, k, "dup")
	if d := diff(first, got); d != "" {
		t.Fatalf("failed create changed the record:\n%s", d)
	}
}

func testEmptyName[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	if err := k.create(ctx, st, k.sample("")); err == nil {
		t.Fatal("create with an empty name succeeded")
	}
	if n := mustCount(t, st, k); n != 0 {
		t.Fatalf("count after refused create = %d, want 0", n)
	}
	if _, err := k.get(ctx, st, ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("get empty name: got %v, want ErrNotFound", err)
	}
}

func testGetNotFound[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	mustCreate(t, st, k, k.sample("present"))
	for _, name := range []string{"missing", "presen", "present2", "PRESENT"} {
		if got, err := k.get(ctx, st, name); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("get %q: got (%v, %v), want ErrNotFound", name, got, err)
		}
	}
}

func testUpdate[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	mustCreate(t, st, k, k.sample("u"))

	want := k.sample("u")
	*k.counter(want) += 5
	(*k.tags(want))["added"] = "yes"
	delete(*k.tags(want), "empty")
	*k.raw(want) = json.RawMessage(`{"Status":"DISABLED"}`)

	calls := 0
	got, err := k.update(ctx, st, "u", func(r *T) error {
		calls++
		if d := diff(k.sample("u"), r); d != "" {
			t.Errorf("fn got a record unlike the stored one:\n%s", d)
		}
		*k.counter(r) += 5
		(*k.tags(r))["added"] = "yes"
		delete(*k.tags(r), "empty")
		*k.raw(r) = json.RawMessage(`{"Status":"DISABLED"}`)
		return nil
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if calls != 1 {
		t.Fatalf("fn called %d times, want 1", calls)
	}
	if d := diff(want, got); d != "" {
		t.Fatalf("update returned:\n%s", d)
	}
	if d := diff(want, mustGet(t, st, k, "u")); d != "" {
		t.Fatalf("get after update:\n%s", d)
	}

	// Removing every tag and a JSON field must stick too.
	got, err = k.update(ctx, st, "u", func(r *T) error {
		*k.tags(r) = nil
		*k.raw(r) = nil
		return nil
	})
	if err != nil {
		t.Fatalf("second update: %v", err)
	}
	*k.tags(want) = nil
	*k.raw(want) = nil
	if d := diff(want, got); d != "" {
		t.Fatalf("second update returned:\n%s", d)
	}
	if d := diff(want, mustGet(t, st, k, "u")); d != "" {
		t.Fatalf("get after second update:\n%s", d)
	}
}

func testUpdateNotFound[T any](t *testing.T, st catalog.Store, k kind[T]) {
	called := false
	_, err := k.update(t.Context(), st, "missing", func(*T) error { called = true; return nil })
	if !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("update missing: got %v, want ErrNotFound", err)
	}
	if called {
		t.Fatal("fn was called for a missing record")
	}
	if n := mustCount(t, st, k); n != 0 {
		t.Fatalf("update of a missing record created one: count = %d", n)
	}
}

var errBoom = errors.New("boom")

func testUpdateFnError[T any](t *testing.T, st catalog.Store, k kind[T]) {
	mustCreate(t, st, k, k.sample("f"))
	_, err := k.update(t.Context(), st, "f", func(r *T) error {
		// Change everything in place before failing: none of it may stick.
		*k.counter(r) = 12345
		(*k.tags(r))["team"] = "changed"
		(*k.tags(r))["new"] = "tag"
		if raw := *k.raw(r); len(raw) > 0 {
			raw[0] = '['
		}
		return fmt.Errorf("validate: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("update: got %v, want an error wrapping fn's", err)
	}
	if d := diff(k.sample("f"), mustGet(t, st, k, "f")); d != "" {
		t.Fatalf("failed update changed the record:\n%s", d)
	}
}

func testUpdateRename[T any](t *testing.T, st catalog.Store, k kind[T]) {
	mustCreate(t, st, k, k.sample("old"))
	_, err := k.update(t.Context(), st, "old", func(r *T) error {
		*k.name(r) = "new"
		*k.counter(r) = 7
		return nil
	})
	if err == nil {
		t.Fatal("update that renames the record succeeded")
	}
	if d := diff(k.sample("old"), mustGet(t, st, k, "old")); d != "" {
		t.Fatalf("refused rename changed the record:\n%s", d)
	}
	if _, err := k.get(t.Context(), st, "new"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("get new name after refused rename: got %v, want ErrNotFound", err)
	}
}

func testDelete[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	mustCreate(t, st, k, k.sample("d"))
	mustCreate(t, st, k, k.sample("keep"))
	if err := k.del(ctx, st, "d"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := k.get(ctx, st, "d"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("get after delete: got %v, want ErrNotFound", err)
	}
	if err := k.del(ctx, st, "d"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
	if err := k.del(ctx, st, "never"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("delete missing: got %v, want ErrNotFound", err)
	}
	if d := diff(k.sample("keep"), mustGet(t, st, k, "keep")); d != "" {
		t.Fatalf("delete touched another record:\n%s", d)
	}
	// The name is free again.
	again := k.sample("d")
	*k.counter(again) = 1
	mustCreate(t, st, k, again)
	if d := diff(again, mustGet(t, st, k, "d")); d != "" {
		t.Fatalf("record created again after delete:\n%s", d)
	}
}

func testCount[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	if n := mustCount(t, st, k); n != 0 {
		t.Fatalf("count of an empty store = %d", n)
	}
	for i := range 5 {
		mustCreate(t, st, k, k.sample(fmt.Sprintf("c%d", i)))
	}
	_ = k.create(ctx, st, k.sample("c0")) // ErrExists: must not count
	if n := mustCount(t, st, k); n != 5 {
		t.Fatalf("count after 5 creates = %d", n)
	}
	if err := k.del(ctx, st, "c3"); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, st, k); n != 4 {
		t.Fatalf("count after a delete = %d, want 4", n)
	}
}

// listNames is in byte-wise order: upper case before lower case, and
// '-' < '.' < digits < upper case < '_' < lower case.
var listNames = []string{
	"B", "Cam-3", "a", "a-b", "a.b", "a0", "aB", "a_b", "ab", "b", "cam-1", "cam-10", "cam-2", "z",
}

func testList[T any](t *testing.T, st catalog.Store, k kind[T]) {
	if !slices.IsSorted(listNames) {
		t.Fatal("suite bug: listNames is not sorted")
	}
	ctx := t.Context()
	if got, err := k.list(ctx, st, catalog.ListOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("list of an empty store: got %d records, %v", len(got), err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, i := range rnd.Perm(len(listNames)) {
		rec := k.sample(listNames[i])
		*k.counter(rec) = i
		mustCreate(t, st, k, rec)
	}

	tests := []struct {
		name string
		opt  catalog.ListOptions
		want []string
	}{
		{"all", catalog.ListOptions{}, listNames},
		{"prefix", catalog.ListOptions{Prefix: "cam-"}, []string{"cam-1", "cam-10", "cam-2"}},
		{"prefix is case-sensitive", catalog.ListOptions{Prefix: "A"}, nil},
		{"prefix upper", catalog.ListOptions{Prefix: "C"}, []string{"Cam-3"}},
		{"prefix a", catalog.ListOptions{Prefix: "a"}, []string{"a", "a-b", "a.b", "a0", "aB", "a_b", "ab"}},
		{"prefix is a whole name", catalog.ListOptions{Prefix: "cam-10"}, []string{"cam-10"}},
		{"prefix matches nothing", catalog.ListOptions{Prefix: "cam-3"}, nil},
		{"after existing", catalog.ListOptions{After: "a_b"}, []string{"ab", "b", "cam-1", "cam-10", "cam-2", "z"}},
		{"after missing", catalog.ListOptions{After: "aa"}, []string{"ab", "b", "cam-1", "cam-10", "cam-2", "z"}},
		{"after last", catalog.ListOptions{After: "z"}, nil},
		{"after beyond", catalog.ListOptions{After: "zz"}, nil},
		{"limit", catalog.ListOptions{Limit: 3}, []string{"B", "Cam-3", "a"}},
		{"limit above count", catalog.ListOptions{Limit: 100}, listNames},
		{"prefix after", catalog.ListOptions{Prefix: "cam-", After: "cam-1"}, []string{"cam-10", "cam-2"}},
		{"prefix after limit", catalog.ListOptions{Prefix: "cam-", After: "cam-1", Limit: 1}, []string{"cam-10"}},
		{"after before prefix", catalog.ListOptions{Prefix: "cam-", After: "b"}, []string{"cam-1", "cam-10", "cam-2"}},
		{"after beyond prefix", catalog.ListOptions{Prefix: "a", After: "b"}, nil},
		{"prefix limit", catalog.ListOptions{Prefix: "a", Limit: 2}, []string{"a", "a-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.list(ctx, st, tc.opt)
			if err != nil {
				t.Fatalf("list %+v: %v", tc.opt, err)
			}
			names := make([]string, len(got))
			for i, r := range got {
				names[i] = *k.name(r)
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("list %+v:\n got %q\nwant %q", tc.opt, names, tc.want)
			}
			// Listed records are whole records.
			for _, r := range got {
				want := k.sample(*k.name(r))
				*k.counter(want) = slices.Index(listNames, *k.name(r))
				if d := diff(want, r); d != "" {
					t.Fatalf("listed record %q:\n%s", *k.name(r), d)
				}
			}
		})
	}
}

func testListPaging[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	for _, n := range listNames {
		mustCreate(t, st, k, k.sample(n))
	}
	for _, prefix := range []string{"", "a", "cam-", "x"} {
		var want []string
		for _, n := range listNames {
			if strings.HasPrefix(n, prefix) {
				want = append(want, n)
			}
		}
		for limit := 1; limit <= 5; limit++ {
			var got []string
			after := ""
			for page := 0; ; page++ {
				if page > len(listNames)+1 {
					t.Fatalf("prefix %q limit %d: paging does not end; got %q", prefix, limit, got)
				}
				recs, err := k.list(ctx, st, catalog.ListOptions{Prefix: prefix, After: after, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) > limit {
					t.Fatalf("prefix %q limit %d: page of %d records", prefix, limit, len(recs))
				}
				for _, r := range recs {
					got = append(got, *k.name(r))
				}
				if len(recs) < limit {
					break
				}
				after = *k.name(recs[len(recs)-1])
			}
			if !slices.Equal(got, want) {
				t.Fatalf("prefix %q limit %d: paged through\n %q\nwant %q", prefix, limit, got, want)
			}
		}
	}
}

// mutate changes every reference-typed part of r in place.
func mutate[T any](k kind[T], r *T) {
	*k.counter(r) += 1000
	if tags := *k.tags(r); tags != nil {
		for key := range tags {
			tags[key] = "mutated"
		}
		tags["mutated"] = "yes"
	}
	if raw := *k.raw(r); len(raw) > 0 {
		raw[0] = '['
	}
}

func testDeepCopy[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	want := k.sample("dc")
	check := func(step string) {
		t.Helper()
		if d := diff(want, mustGet(t, st, k, "dc")); d != "" {
			t.Fatalf("after mutating the record %s, the store changed:\n%s", step, d)
		}
	}

	arg := k.sample("dc")
	mustCreate(t, st, k, arg)
	mutate(k, arg)
	check("passed to create")

	mutate(k, mustGet(t, st, k, "dc"))
	check("returned by get")

	recs, err := k.list(ctx, st, catalog.ListOptions{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("list: %d records, %v", len(recs), err)
	}
	mutate(k, recs[0])
	check("returned by list")

	var inFn *T
	got, err := k.update(ctx, st, "dc", func(r *T) error { inFn = r; return nil })
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if inFn == got {
		t.Fatal("update returned the very record it passed to fn")
	}
	mutate(k, inFn)
	check("passed to update's fn")
	mutate(k, got)
	check("returned by update")

	// Two gets never share memory either.
	a, b := mustGet(t, st, k, "dc"), mustGet(t, st, k, "dc")
	mutate(k, a)
	if d := diff(want, b); d != "" {
		t.Fatalf("two gets share memory:\n%s", d)
	}
}

func testConcurrentUpdate[T any](t *testing.T, st catalog.Store, k kind[T]) {
	ctx := t.Context()
	workers, perWorker := 8, 25
	if testing.Short() {
		workers, perWorker = 4, 10
	}
	total := workers * perWorker
	rec := k.sample("hot")
	*k.counter(rec) = 0
	mustCreate(t, st, k, rec)

	var (
		writers sync.WaitGroup
		readers sync.WaitGroup
		done    = make(chan struct{})
		seen    = make([][]int, workers)
		errs    = make(chan error, workers+2)
	)
	// Readers see the counter only grow, and never beyond total. They stop
	// when the writers are done or after a bounded number of reads, so that
	// they cannot starve the writers of CPU.
	for range 2 {
		readers.Go(func() {
			last := 0
			for range 20 * total {
				select {
				case <-done:
					return
				default:
				}
				r, err := k.get(ctx, st, "hot")
				if err != nil {
					errs <- fmt.Errorf("concurrent get: %w", err)
					return
				}
				if v := *k.counter(r); v < last || v > total {
					errs <- fmt.Errorf("reader saw counter %d after %d (total %d)", v, last, total)
					return
				} else {
					last = v
				}
			}
		})
	}
	for w := range workers {
		writers.Go(func() {
			for range perWorker {
				r, err := k.update(ctx, st, "hot", func(r *T) error {
					*k.counter(r)++
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("concurrent update: %w", err)
					return
				}
				seen[w] = append(seen[w], *k.counter(r))
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	if v := *k.counter(mustGet(t, st, k, "hot")); v != total {
		t.Fatalf("after %d concurrent increments the counter is %d", total, v)
	}
	// Serializability: the values the updates returned are exactly 1..total,
	// and each worker saw its own increasing.
	var all []int
	for w, vs := range seen {
		if !slices.IsSorted(vs) {
			t.Fatalf("worker %d saw its updates out of order: %v", w, vs)
		}
		all = append(all, vs...)
	}
	slices.Sort(all)
	for i, v := range all {
		if v != i+1 {
			t.Fatalf("updates returned values %v..., want each of 1..%d once", all[:min(len(all), i+3)], total)
		}
	}
}

func testConcurrentCreate[T any](t *testing.T, st catalog.Store, k kind[T]) {
	const racers = 16
	var (
		wg      sync.WaitGroup
		results = make([]error, racers)
		start   = make(chan struct{})
	)
	for i := range racers {
		wg.Go(func() {
			rec := k.sample("race")
			*k.counter(rec) = i
			<-start
			results[i] = k.create(t.Context(), st, rec)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creates %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, catalog.ErrExists):
			t.Fatalf("losing create %d: got %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	if v := *k.counter(mustGet(t, st, k, "race")); v != winner {
		t.Fatalf("stored record came from create %d, but create %d won", v, winner)
	}
	if n := mustCount(t, st, k); n != 1 {
		t.Fatalf("count = %d, want 1", n)
	}
}

func testSeparateNamespaces(t *testing.T, st catalog.Store) {
	ctx := t.Context()
	if err := st.CreateStream(ctx, SampleStream("shared")); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateChannel(ctx, SampleChannel("shared")); err != nil {
		t.Fatalf("channel named like a stream: %v", err)
	}
	if _, err := st.GetChannel(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteStream(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetChannel(ctx, "shared"); err != nil {
		t.Fatalf("deleting the stream removed the channel: %v", err)
	}
	if err := st.CreateStream(ctx, SampleStream("only-stream")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetChannel(ctx, "only-stream"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("a stream is visible as a channel: %v", err)
	}
	ns, err := st.CountStreams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := st.CountChannels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ns != 1 || nc != 1 {
		t.Fatalf("counts: %d streams, %d channels; want 1 and 1", ns, nc)
	}
}

// calls invokes every Store method except Close once and returns their
// errors by method name. fnCalled is set if an update called its fn.
func calls(ctx context.Context, st catalog.Store, fnCalled *bool) map[string]error {
	errs := map[string]error{}
	errs["CreateStream"] = st.CreateStream(ctx, SampleStream("new-stream"))
	_, errs["GetStream"] = st.GetStream(ctx, "s")
	_, errs["UpdateStream"] = st.UpdateStream(ctx, "s", func(s *catalog.Stream) error {
		*fnCalled = true
		s.Status = catalog.StatusUpdating
		return nil
	})
	_, errs["ListStreams"] = st.ListStreams(ctx, catalog.ListOptions{})
	_, errs["CountStreams"] = st.CountStreams(ctx)
	errs["DeleteStream"] = st.DeleteStream(ctx, "s")
	errs["CreateChannel"] = st.CreateChannel(ctx, SampleChannel("new-channel"))
	_, errs["GetChannel"] = st.GetChannel(ctx, "c")
	_, errs["UpdateChannel"] = st.UpdateChannel(ctx, "c", func(c *catalog.Channel) error {
		*fnCalled = true
		c.Status = catalog.StatusUpdating
		return nil
	})
	_, errs["ListChannels"] = st.ListChannels(ctx, catalog.ListOptions{})
	_, errs["CountChannels"] = st.CountChannels(ctx)
	errs["DeleteChannel"] = st.DeleteChannel(ctx, "c")
	return errs
}

func testCanceledContext(t *testing.T, st catalog.Store) {
	live := t.Context()
	if err := st.CreateStream(live, SampleStream("s")); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateChannel(live, SampleChannel("c")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(live)
	cancel()
	fnCalled := false
	errs := calls(ctx, st, &fnCalled)
	for _, m := range slices.Sorted(maps.Keys(errs)) {
		if !errors.Is(errs[m], context.Canceled) {
			t.Errorf("%s with a canceled context: got %v, want context.Canceled", m, errs[m])
		}
	}
	if fnCalled {
		t.Error("update called fn with a canceled context")
	}
	// Nothing changed.
	if d := diff(SampleStream("s"), mustGet(t, st, streams(), "s")); d != "" {
		t.Errorf("stream changed:\n%s", d)
	}
	if d := diff(SampleChannel("c"), mustGet(t, st, channels(), "c")); d != "" {
		t.Errorf("channel changed:\n%s", d)
	}
	if _, err := st.GetStream(live, "new-stream"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("create with a canceled context stored the stream: %v", err)
	}
	if _, err := st.GetChannel(live, "new-channel"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("create with a canceled context stored the channel: %v", err)
	}
}

func testClose(t *testing.T, st catalog.Store) {
	ctx := t.Context()
	if err := st.CreateStream(ctx, SampleStream("s")); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateChannel(ctx, SampleChannel("c")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	fnCalled := false
	errs := calls(ctx, st, &fnCalled)
	for _, m := range slices.Sorted(maps.Keys(errs)) {
		if !errors.Is(errs[m], catalog.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", m, errs[m])
		}
	}
	if fnCalled {
		t.Error("update called fn after Close")
	}
	if err := st.Close(); err != nil && !errors.Is(err, catalog.ErrClosed) {
		t.Errorf("second close: got %v, want nil or ErrClosed", err)
	}
}

func testCloseWhileBusy(t *testing.T, st catalog.Store) {
	ctx := t.Context()
	if err := st.CreateStream(ctx, SampleStream("s")); err != nil {
		t.Fatal(err)
	}
	const workers = 4
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		errs    = make([]error, workers)
	)
	started.Add(workers)
	for w := range workers {
		wg.Go(func() {
			first := true
			for i := 0; ; i++ {
				var err error
				switch i % 3 {
				case 0:
					_, err = st.GetStream(ctx, "s")
				case 1:
					_, err = st.UpdateStream(ctx, "s", func(s *catalog.Stream) error {
						s.DataRetentionInHours++
						return nil
					})
				case 2:
					_, err = st.ListStreams(ctx, catalog.ListOptions{})
				}
				if first {
					first = false
					started.Done()
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	started.Wait() // every worker has made a call
	if err := st.Close(); err != nil {
		t.Fatalf("close while busy: %v", err)
	}
	wg.Wait()
	for w, err := range errs {
		if !errors.Is(err, catalog.ErrClosed) {
			t.Errorf("worker %d stopped with %v, want ErrClosed", w, err)
		}
	}
}

func mustCreate[T any](t *testing.T, st catalog.Store, k kind[T], r *T) {
	t.Helper()
	if err := k.create(t.Context(), st, r); err != nil {
		t.Fatalf("create %q: %v", *k.name(r), err)
	}
}

func mustGet[T any](t *testing.T, st catalog.Store, k kind[T], name string) *T {
	t.Helper()
	r, err := k.get(t.Context(), st, name)
	if err != nil {
		t.Fatalf("get %q: %v", name, err)
	}
	return r
}

func mustCount[T any](t *testing.T, st catalog.Store, k kind[T]) int {
	t.Helper()
	n, err := k.count(t.Context(), st)
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// diff compares two records of the same struct type field by field, with
// the tolerances the package documentation allows, and describes the
// differences ("" if none). Walking the fields by reflection keeps fields
// added to the records later under test without changing the suite.
func diff(want, got any) string {
	if reflect.ValueOf(got).IsNil() {
		return "got a nil record"
	}
	w, g := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
	var b strings.Builder
	for i := range w.NumField() {
		name := w.Type().Field(i).Name
		wf, gf := w.Field(i).Interface(), g.Field(i).Interface()
		switch wv := wf.(type) {
		case time.Time:
			gv := gf.(time.Time)
			if gv.Location() != time.UTC {
				fmt.Fprintf(&b, "  %s: location %v, want UTC\n", name, gv.Location())
			}
			if gv.IsZero() != wv.IsZero() || gv.Sub(wv).Abs() >= time.Millisecond {
				fmt.Fprintf(&b, "  %s: got %v, want %v (±1ms)\n", name, gv, wv.UTC())
			}
		case json.RawMessage:
			if !jsonEqual(wv, gf.(json.RawMessage)) {
				fmt.Fprintf(&b, "  %s: got %s, want %s\n", name, gf, wv)
			}
		case map[string]string:
			if gv := gf.(map[string]string); !maps.Equal(wv, gv) {
				fmt.Fprintf(&b, "  %s: got %v, want %v\n", name, gv, wv)
			}
		default:
			if !reflect.DeepEqual(wf, gf) {
				fmt.Fprintf(&b, "  %s: got %#v, want %#v\n", name, gf, wf)
			}
		}
	}
	return b.String()
}

// jsonEqual reports whether a and b are both absent or encode the same JSON
// value.
func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return false
	}
	return reflect.DeepEqual(av, bv)
}
