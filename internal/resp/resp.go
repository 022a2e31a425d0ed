// Package resp is a small client for the Redis serialisation protocol (RESP2): the handful of commands the
// data-parallel benchmarks send (PING, AUTH, SELECT, RPUSH, BLPOP, DEL), with values of many megabytes written
// and read without extra copies. It is written here rather than taken from go-redis because those few commands
// are all we need, and a connection we control byte by byte is what a latency measurement should time.
package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a reply.
type Kind byte

const (
	SimpleString Kind = '+'
	Error        Kind = '-'
	Integer      Kind = ':'
	Bulk         Kind = '$'
	Array        Kind = '*'
)

// Value is one reply. A nil bulk string or nil array has Nil set.
type Value struct {
	Kind  Kind
	Str   []byte // simple string, error text or bulk string
	Int   int64
	Elems []Value
	Nil   bool
}

// ServerError is an error reply (-ERR …) from the server.
type ServerError string

func (e ServerError) Error() string { return "redis: " + string(e) }

// Endpoint is where a Redis server is and how to log in to it.
type Endpoint struct {
	Addr     string // host:port
	Username string
	Password string
	DB       int
}

// ParseURL reads redis://[[user]:password@]host[:port][/db]. The port defaults to 6379.
func ParseURL(s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("redis URL %q: %w", s, err)
	}
	if u.Scheme != "redis" {
		return Endpoint{}, fmt.Errorf("redis URL %q: want the redis:// scheme", s)
	}
	if u.Hostname() == "" {
		return Endpoint{}, fmt.Errorf("redis URL %q: no host", s)
	}
	e := Endpoint{Addr: u.Host}
	if u.Port() == "" {
		e.Addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	if u.User != nil {
		e.Username = u.User.Username()
		e.Password, _ = u.User.Password()
		if _, ok := u.User.Password(); !ok { // redis://secret@host: the one field is the password
			e.Username, e.Password = "", u.User.Username()
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return Endpoint{}, fmt.Errorf("redis URL %q: database %q is not a non-negative number", s, p)
		}
		e.DB = db
	}
	return e, nil
}

// Conn is one connection. It is not safe for concurrent use.
type Conn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

// Dial connects and logs in (AUTH, SELECT) as the endpoint says.
func Dial(ctx context.Context, e Endpoint) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", e.Addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // one request per write: Nagle would add the ack delay to every small command
	}
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
	if e.Password != "" {
		args := []string{"AUTH", e.Password}
		if e.Username != "" {
			args = []string{"AUTH", e.Username, e.Password}
		}
		if _, err := c.DoContext(ctx, strArgs(args...)...); err != nil {
			nc.Close()
			return nil, fmt.Errorf("redis %s: AUTH: %w", e.Addr, err)
		}
	}
	if e.DB != 0 {
		if _, err := c.DoContext(ctx, strArgs("SELECT", strconv.Itoa(e.DB))...); err != nil {
			nc.Close()
			return nil, fmt.Errorf("redis %s: SELECT %d: %w", e.Addr, e.DB, err)
		}
	}
	return c, nil
}

func strArgs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// DoContext sends one command and reads its reply; an error reply is returned as a ServerError. Cancelling ctx
// interrupts a blocked read or write.
func (c *Conn) DoContext(ctx context.Context, args ...[]byte) (Value, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.write(args); err != nil {
		return Value{}, c.ctxErr(ctx, err)
	}
	v, err := c.read()
	if err != nil {
		return Value{}, c.ctxErr(ctx, err)
	}
	if v.Kind == Error {
		return v, ServerError(v.Str)
	}
	return v, nil
}

func (c *Conn) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c *Conn) write(args [][]byte) error {
	var hdr [32]byte
	c.w.Write(strconv.AppendInt(append(hdr[:0], '*'), int64(len(args)), 10))
	c.w.WriteString("\r\n")
	for _, a := range args {
		c.w.Write(strconv.AppendInt(append(hdr[:0], '$'), int64(len(a)), 10))
		c.w.WriteString("\r\n")
		c.w.Write(a) // large values go straight to the socket: bufio passes writes bigger than its buffer through
		c.w.WriteString("\r\n")
	}
	return c.w.Flush()
}

func (c *Conn) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("redis: malformed reply line %q", l)
	}
	return l[:len(l)-2], nil
}

func (c *Conn) read() (Value, error) {
	l, err := c.line()
	if err != nil {
		return Value{}, err
	}
	if len(l) == 0 {
		return Value{}, errors.New("redis: empty reply line")
	}
	v := Value{Kind: Kind(l[0])}
	body := l[1:]
	switch v.Kind {
	case SimpleString, Error:
		v.Str = append([]byte(nil), body...)
	case Integer:
		v.Int, err = strconv.ParseInt(string(body), 10, 64)
	case Bulk:
		n, perr := strconv.Atoi(string(body))
		if perr != nil {
			return Value{}, fmt.Errorf("redis: bulk length %q: %w", body, perr)
		}
		if n < 0 {
			v.Nil = true
			return v, nil
		}
		v.Str = make([]byte, n+2)
		if _, err = io.ReadFull(c.r, v.Str); err == nil {
			v.Str = v.Str[:n]
		}
	case Array:
		n, perr := strconv.Atoi(string(body))
		if perr != nil {
			return Value{}, fmt.Errorf("redis: array length %q: %w", body, perr)
		}
		if n < 0 {
			v.Nil = true
			return v, nil
		}
		v.Elems = make([]Value, n)
		for i := range v.Elems {
			if v.Elems[i], err = c.read(); err != nil {
				break
			}
		}
	default:
		return Value{}, fmt.Errorf("redis: unknown reply type %q", l[0])
	}
	return v, err
}

// Ping checks the server answers.
func (c *Conn) Ping(ctx context.Context) error {
	v, err := c.DoContext(ctx, []byte("PING"))
	if err == nil && string(v.Str) != "PONG" {
		err = fmt.Errorf("redis: PING answered %q", v.Str)
	}
	return err
}

// RPush appends value to the list at key.
func (c *Conn) RPush(ctx context.Context, key string, value []byte) error {
	_, err := c.DoContext(ctx, []byte("RPUSH"), []byte(key), value)
	return err
}

// BLPop waits up to timeout for the first element of the first non-empty list among keys and returns the key
// and the element. It returns an error when the timeout passes with every list empty.
func (c *Conn) BLPop(ctx context.Context, timeout time.Duration, keys ...string) (string, []byte, error) {
	args := [][]byte{[]byte("BLPOP")}
	for _, k := range keys {
		args = append(args, []byte(k))
	}
	args = append(args, []byte(strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)))
	v, err := c.DoContext(ctx, args...)
	if err != nil {
		return "", nil, err
	}
	if v.Nil {
		return "", nil, fmt.Errorf("redis: BLPOP %s: nothing arrived within %v", strings.Join(keys, " "), timeout)
	}
	if v.Kind != Array || len(v.Elems) != 2 {
		return "", nil, fmt.Errorf("redis: BLPOP: unexpected reply kind %q with %d elements", v.Kind, len(v.Elems))
	}
	return string(v.Elems[0].Str), v.Elems[1].Str, nil
}

// Del deletes keys and returns how many existed.
func (c *Conn) Del(ctx context.Context, keys ...string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	v, err := c.DoContext(ctx, strArgs(append([]string{"DEL"}, keys...)...)...)
	return v.Int, err
}
