package archive

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCommitStreamsIndependently: while one stream's sync hangs, another
// stream's fragments still become durable.
func TestCommitStreamsIndependently(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	orig := syncFile
	syncFile = func(f *os.File) error {
		if strings.Contains(filepath.ToSlash(f.Name()), "/slow/") {
			<-release
		}
		return orig(f)
	}
	t.Cleanup(func() { unblock(); syncFile = orig })
	a := openTest(t, t.TempDir(), Config{})
	t.Cleanup(unblock) // runs before the archive's Close
	put1 := func(stream string) <-chan error {
		f := &Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Duration: time.Second, Frames: 1, Header: testHeader}
		done, err := a.Put(stream, f, []byte(stream), true)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	slow := put1("slow")
	for i := range 3 {
		select {
		case err := <-put1("fast"):
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("fast fragment %d not durable while another stream's sync hangs", i)
		}
	}
	select {
	case <-slow:
		t.Fatal("the hanging sync's fragment reported durable")
	default:
	}
	unblock()
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}
