package catalogtest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/catalogtest"
	"github.com/openkvs/openkvs/internal/catalog/memstore"
)

// The suite is checked against stores with one planted defect each: every
// mutant must make the subtest named for it fail. A mutant runs in a child
// process (this test binary again) so that its failures do not fail this
// test.

const mutantEnv = "CATALOGTEST_MUTANT"

// shallowGet hands out the same record on every GetStream.
type shallowGet struct {
	catalog.Store
	mu    sync.Mutex
	cache map[string]*catalog.Stream
}

func (s *shallowGet) GetStream(ctx context.Context, name string) (*catalog.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.cache[name]; ok {
		return r, nil
	}
	r, err := s.Store.GetStream(ctx, name)
	if err == nil {
		s.cache[name] = r
	}
	return r, err
}

// foldedList orders names ignoring case, as a locale collation would.
type foldedList struct{ catalog.Store }

func (s foldedList) ListStreams(ctx context.Context, opt catalog.ListOptions) ([]*catalog.Stream, error) {
	all, err := s.Store.ListStreams(ctx, catalog.ListOptions{Prefix: opt.Prefix})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b *catalog.Stream) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return all, nil
}

// inclusiveAfter includes the After name itself in a page.
type inclusiveAfter struct{ catalog.Store }

func (s inclusiveAfter) ListChannels(ctx context.Context, opt catalog.ListOptions) ([]*catalog.Channel, error) {
	if opt.After != "" {
		opt.After = opt.After[:len(opt.After)-1]
	}
	return s.Store.ListChannels(ctx, opt)
}

// zonedTime returns creation times in the zone they were created in.
type zonedTime struct{ catalog.Store }

func (s zonedTime) GetStream(ctx context.Context, name string) (*catalog.Stream, error) {
	r, err := s.Store.GetStream(ctx, name)
	if r != nil {
		r.CreationTime = r.CreationTime.In(time.FixedZone("X", 3600))
	}
	return r, err
}

// swallowFnError replaces fn's error with its own.
type swallowFnError struct{ catalog.Store }

func (s swallowFnError) UpdateChannel(ctx context.Context, name string, fn func(*catalog.Channel) error) (*catalog.Channel, error) {
	r, err := s.Store.UpdateChannel(ctx, name, fn)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, errors.New("update failed")
	}
	return r, err
}

// neverClosed ignores Close.
type neverClosed struct{ catalog.Store }

func (neverClosed) Close() error { return nil }

// keepsTrying ignores a canceled context when counting.
type keepsTrying struct{ catalog.Store }

func (s keepsTrying) CountChannels(context.Context) (int, error) {
	return s.Store.CountChannels(context.Background())
}

type mutant struct {
	name string
	wrap func(catalog.Store) catalog.Store
	// fails names the subtest of Run that must fail.
	fails string
}

var mutants = []mutant{
	{"shallowGet", func(s catalog.Store) catalog.Store {
		return &shallowGet{Store: s, cache: map[string]*catalog.Stream{}}
	}, "Stream/DeepCopy"},
	{"foldedList", func(s catalog.Store) catalog.Store { return foldedList{s} }, "Stream/List"},
	{"inclusiveAfter", func(s catalog.Store) catalog.Store { return inclusiveAfter{s} }, "Channel/ListPaging"},
	{"zonedTime", func(s catalog.Store) catalog.Store { return zonedTime{s} }, "Stream/CreateGet"},
	{"swallowFnError", func(s catalog.Store) catalog.Store { return swallowFnError{s} }, "Channel/UpdateFnError"},
	{"neverClosed", func(s catalog.Store) catalog.Store { return neverClosed{s} }, "Close"},
	{"keepsTrying", func(s catalog.Store) catalog.Store { return keepsTrying{s} }, "CanceledContext"},
}

// TestMutant runs the suite against the mutant named in the environment; it
// is skipped otherwise.
func TestMutant(t *testing.T) {
	name := os.Getenv(mutantEnv)
	if name == "" {
		t.Skip("runs only as a child of TestSuiteCatchesDefects")
	}
	i := slices.IndexFunc(mutants, func(m mutant) bool { return m.name == name })
	if i < 0 {
		t.Fatalf("unknown mutant %q", name)
	}
	catalogtest.Run(t, func(t *testing.T) catalog.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return mutants[i].wrap(s)
	})
}

func TestSuiteCatchesDefects(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("child process")
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			run := "^TestMutant$/^" + strings.ReplaceAll(m.fails, "/", "$/^") + "$"
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", run)
			cmd.Env = append(os.Environ(), mutantEnv+"="+m.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite passed a store with defect %s (err %v):\n%s", m.name, err, out)
			}
			if want := "--- FAIL: TestMutant/" + m.fails; !strings.Contains(string(out), want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		})
	}
}
