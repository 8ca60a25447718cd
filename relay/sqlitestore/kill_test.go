package sqlitestore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storetest"
)

// TestSurvivesSIGKILL runs writers in a child process, kills it with SIGKILL
// mid-stream, and checks that every event whose SaveEvent returned nil (the
// child printed its id after the call) is in the database.
func TestSurvivesSIGKILL(t *testing.T) {
	if os.Getenv("SQLITESTORE_KILL_CHILD") != "" {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SQLITESTORE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 2000 {
		var id string
		if _, err := fmt.Sscanf(sc.Text(), "saved %s", &id); err == nil {
			acked = append(acked, id)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 2000 {
		t.Fatalf("child acknowledged only %d saves", len(acked))
	}
	s, err := New(path, WithLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := storetest.Query(t, s, nostr.Filter{IDs: acked})
	if len(got) != len(acked) {
		t.Fatalf("%d of %d acknowledged events survived SIGKILL", len(got), len(acked))
	}
	t.Logf("all %d acknowledged events survived SIGKILL", len(acked))
}

// TestKillChild is the child of TestSurvivesSIGKILL: it saves events with 16
// writers until killed (bounded at 100k) and prints each acknowledged id.
func TestKillChild(t *testing.T) {
	path := os.Getenv("SQLITESTORE_KILL_CHILD")
	if path == "" {
		t.Skip("only run as TestSurvivesSIGKILL's child")
	}
	s, err := New(path, WithLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100_000/16; i++ {
				e := storetest.Event(1, storetest.RandomHex(), int64(i), nostr.Tags{{"t", "kill"}}, "")
				if err := s.SaveEvent(context.Background(), e); err != nil {
					return
				}
				mu.Lock()
				fmt.Printf("saved %s\n", e.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
