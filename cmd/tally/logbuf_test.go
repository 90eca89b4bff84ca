package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher goroutine and the test.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogBufferHoldsInfoAndFlushesWarnings: info lines wait (in one write
// later), a warning goes out at once with the lines before it, in order.
func TestLogBufferHoldsInfoAndFlushesWarnings(t *testing.T) {
	out := &syncBuffer{}
	lb := newLogBuffer(out, time.Hour)
	log := slog.New(flushAt{Handler: slog.NewJSONHandler(lb, nil), buf: lb, level: slog.LevelWarn})
	log.Info("request", "n", 1)
	log.Info("request", "n", 2)
	if got := out.String(); got != "" {
		t.Fatalf("info lines written before a flush: %q", got)
	}
	log.Warn("careful")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"n":1`) || !strings.Contains(lines[1], `"n":2`) || !strings.Contains(lines[2], "careful") {
		t.Fatalf("after a warning: %q", lines)
	}
	if out.writes != 1 {
		t.Fatalf("%d writes for three lines, want 1", out.writes)
	}
	log.Info("request", "n", 3)
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"n":3`) {
		t.Fatalf("Close lost the last line: %q", out.String())
	}
}

// TestLogBufferFlushesOnItsOwn: without warnings or Close, lines still go out
// within the interval; concurrent loggers' lines stay whole.
func TestLogBufferFlushesOnItsOwn(t *testing.T) {
	out := &syncBuffer{}
	lb := newLogBuffer(out, 20*time.Millisecond)
	defer lb.Close()
	log := slog.New(slog.NewJSONHandler(lb, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				log.Info("request", "g", g, "i", i, "pad", strings.Repeat("x", 100))
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 4000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4000 {
		t.Fatalf("%d lines written within 5 s, want 4000", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l[strings.Index(l, `"g":`):], `"g":%d,"i":%d`, &g, &i); err != nil || !strings.HasSuffix(l, `"}`) {
			t.Fatalf("broken line %q: %v", l, err)
		}
		seen[fmt.Sprint(g, i)] = true
	}
	if len(seen) != 4000 {
		t.Fatalf("%d distinct lines, want 4000", len(seen))
	}
	if out.writes >= 4000/4 {
		t.Fatalf("%d writes for 4000 lines: not batched", out.writes)
	}
}
