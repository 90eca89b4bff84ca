package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer batches the server's log lines into few writes. At thousands of
// requests a second one write(2) per access-log line cost about a tenth of the
// throughput of GET /v1/balances (bench/README.md); buffered, lines go out
// every interval, when maxLogBuffer bytes wait, on Flush (flushAt does it for
// warnings and errors) and on Close. A crash loses at most an interval of
// info lines.
type logBuffer struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

const maxLogBuffer = 64 << 10

func newLogBuffer(w io.Writer, interval time.Duration) *logBuffer {
	b := &logBuffer{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write keeps p (one log record: slog writes each with one call) for the next flush.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= maxLogBuffer {
		return len(p), b.flushLocked()
	}
	return len(p), nil
}

// Flush writes what waits.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *logBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 4*maxLogBuffer {
		b.buf = nil // a burst's buffer is not kept
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// Close stops the timer and writes what waits.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}

// flushAt is a slog.Handler that flushes the buffer after every record at
// level or above, so warnings and errors are never held back.
type flushAt struct {
	slog.Handler
	buf   *logBuffer
	level slog.Level
}

func (h flushAt) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushAt) WithAttrs(as []slog.Attr) slog.Handler {
	return flushAt{Handler: h.Handler.WithAttrs(as), buf: h.buf, level: h.level}
}

func (h flushAt) WithGroup(name string) slog.Handler {
	return flushAt{Handler: h.Handler.WithGroup(name), buf: h.buf, level: h.level}
}
