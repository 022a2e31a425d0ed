// Package redisproc runs a private redis-server for a benchmark or a test: on a free loopback port, with
// persistence off and its files in a temporary folder, stopped (and the folder removed) when the caller is done.
package redisproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/inferplan/inferplan/internal/resp"
)

// ErrNotInstalled says redis-server is not on the PATH.
var ErrNotInstalled = errors.New("redis-server is not installed (Debian/Ubuntu: apt-get install -y redis-server), or pass the URL of a running server")

// Server is a running redis-server.
type Server struct {
	Addr    string // 127.0.0.1:port
	Version string // as `redis-server --version` prints it
	cmd     *exec.Cmd
	dir     string
	log     *bytes.Buffer
	done    chan error
}

// Endpoint is how clients reach the server.
func (s *Server) Endpoint() resp.Endpoint { return resp.Endpoint{Addr: s.Addr} }

// Start runs redis-server and waits until it answers PING (at most 10 s).
func Start(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	ver, _ := exec.CommandContext(ctx, bin, "--version").Output()
	var lastErr error
	// A free port found by listening can be taken by someone else before redis binds it; try a few.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(ctx, bin)
		if err == nil {
			s.Version = string(bytes.TrimSpace(ver))
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(ctx context.Context, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "inferplan-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, log: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "yes")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server exited before it served (%v): %s", err, bytes.TrimSpace(s.log.Bytes()))
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := resp.Dial(pctx, s.Endpoint())
		if err == nil {
			err = c.Ping(pctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Stop()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10 s: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s) and removes its folder.
func (s *Server) Stop() error {
	defer os.RemoveAll(s.dir)
	if s.cmd.ProcessState != nil {
		return nil
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("redis-server on %s did not stop on SIGINT; killed", s.Addr)
	}
}

// Required says whether a missing redis-server must fail a test rather than skip it: in CI (CI or
// INFERPLAN_REQUIRE_REDIS set), where .ci/run installs it, the Redis tests must never be skipped silently.
func Required() bool { return os.Getenv("CI") != "" || os.Getenv("INFERPLAN_REQUIRE_REDIS") != "" }

// ForTest starts a server for a test and stops it when the test ends. Without redis-server the test is skipped
// with a message saying how to install it, unless Required, when it fails.
func ForTest(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background())
	if errors.Is(err, ErrNotInstalled) && !Required() {
		t.Skip("redis-server not installed (apt-get install -y redis-server); the Redis tests run in CI, where .ci/run installs it")
	}
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
