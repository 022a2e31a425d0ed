package resp_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/inferplan/inferplan/internal/redisproc"
	"github.com/inferplan/inferplan/internal/resp"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want resp.Endpoint
		err  string
	}{
		{in: "redis://localhost", want: resp.Endpoint{Addr: "localhost:6379"}},
		{in: "redis://10.0.0.5:6380/2", want: resp.Endpoint{Addr: "10.0.0.5:6380", DB: 2}},
		{in: "redis://:s3cret@h:1", want: resp.Endpoint{Addr: "h:1", Password: "s3cret"}},
		{in: "redis://s3cret@h:1", want: resp.Endpoint{Addr: "h:1", Password: "s3cret"}},
		{in: "redis://me:s3cret@h:1", want: resp.Endpoint{Addr: "h:1", Username: "me", Password: "s3cret"}},
		{in: "http://h:1", err: "redis:// scheme"},
		{in: "redis://h:1/x", err: "database"},
		{in: "redis:///0", err: "no host"},
	} {
		got, err := resp.ParseURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one mentioning %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// TestAgainstRedis speaks to a real redis-server: a value of several megabytes goes through RPUSH and BLPOP
// unchanged, BLPOP waits for a value pushed later from another connection, and error replies are errors.
func TestAgainstRedis(t *testing.T) {
	srv := redisproc.ForTest(t)
	ctx := context.Background()
	a, err := resp.Dial(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := resp.Dial(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef\r\n"), 300_000) // 5.4 MB, with CRLFs inside the value
	if err := a.RPush(ctx, "t:big", big); err != nil {
		t.Fatal(err)
	}
	key, got, err := b.BLPop(ctx, time.Second, "t:none", "t:big")
	if err != nil || key != "t:big" || !bytes.Equal(got, big) {
		t.Fatalf("BLPOP: key %q, %d bytes, %v; want t:big and the %d bytes pushed", key, len(got), err, len(big))
	}
	// BLPOP blocks until another client pushes
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = a.RPush(ctx, "t:later", []byte("x"))
	}()
	start := time.Now()
	if _, v, err := b.BLPop(ctx, 5*time.Second, "t:later"); err != nil || string(v) != "x" {
		t.Fatalf("BLPOP later: %q, %v", v, err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("BLPOP returned after %v, before the value was pushed", waited)
	}
	// a timeout is an error, not an empty value
	if _, _, err := b.BLPop(ctx, 100*time.Millisecond, "t:empty"); err == nil || !strings.Contains(err.Error(), "nothing arrived") {
		t.Errorf("BLPOP on an empty list: %v", err)
	}
	var se resp.ServerError
	if _, err := a.DoContext(ctx, []byte("NOSUCHCOMMAND")); !errors.As(err, &se) {
		t.Errorf("unknown command: %v, want a ServerError", err)
	}
	if n, err := a.Del(ctx, "t:big", "t:later", "t:absent"); err != nil || n != 0 {
		t.Errorf("DEL of popped lists: %d, %v (BLPOP empties a list, which deletes it)", n, err)
	}
	// cancelling the context interrupts a blocked BLPOP
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, _, err := b.BLPop(cctx, 10*time.Second, "t:never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled BLPOP: %v, want context.DeadlineExceeded", err)
	}
}
