package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Mesh is a worker's direct TCP connections to every peer, made from the addresses the rendezvous handed out:
// worker i dials every lower rank and accepts every higher one, so each pair has exactly one connection.
type Mesh struct {
	rank  int
	conns []net.Conn // by peer rank; nil for this worker
}

// ConnectMesh connects this worker to all its peers. ln is the listener whose address it registered. It returns
// the time each connection it dialled took (dial, hello and acknowledgement: the pair's set-up).
func (m *Member) ConnectMesh(ctx context.Context, ln net.Listener) (*Mesh, []time.Duration, error) {
	mesh := &Mesh{rank: m.Rank, conns: make([]net.Conn, m.N)}
	accepted := make(chan error, 1)
	go func() { accepted <- mesh.accept(ln, m.N-1-m.Rank) }()
	var setups []time.Duration
	var d net.Dialer
	for peer := 0; peer < m.Rank; peer++ {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", m.Peers[peer])
		if err != nil {
			mesh.Close()
			return nil, nil, fmt.Errorf("connecting to worker %d at %s: %w", peer, m.Peers[peer], err)
		}
		var hello [4]byte
		binary.BigEndian.PutUint32(hello[:], uint32(m.Rank))
		var ack [1]byte
		if _, err := c.Write(hello[:]); err == nil {
			_, err = io.ReadFull(c, ack[:])
		}
		if err != nil {
			c.Close()
			mesh.Close()
			return nil, nil, fmt.Errorf("hello to worker %d: %w", peer, err)
		}
		setups = append(setups, time.Since(start))
		mesh.conns[peer] = c
	}
	select {
	case err := <-accepted:
		if err != nil {
			mesh.Close()
			return nil, nil, err
		}
	case <-ctx.Done():
		ln.Close()
		mesh.Close()
		return nil, nil, ctx.Err()
	}
	return mesh, setups, nil
}

func (mesh *Mesh) accept(ln net.Listener, want int) error {
	for got := 0; got < want; got++ {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accepting peers: %w", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var hello [4]byte
		if _, err := io.ReadFull(c, hello[:]); err != nil {
			c.Close()
			return fmt.Errorf("peer hello: %w", err)
		}
		_ = c.SetReadDeadline(time.Time{})
		peer := int(binary.BigEndian.Uint32(hello[:]))
		if peer <= mesh.rank || peer >= len(mesh.conns) || mesh.conns[peer] != nil {
			c.Close()
			return fmt.Errorf("unexpected hello from rank %d", peer)
		}
		if _, err := c.Write([]byte{1}); err != nil {
			c.Close()
			return err
		}
		mesh.conns[peer] = c
	}
	return nil
}

// Send writes one message (an 8-byte length, then the bytes) to a peer.
func (mesh *Mesh) Send(peer int, payload []byte) error {
	c := mesh.conns[peer]
	if c == nil {
		return fmt.Errorf("no connection to worker %d", peer)
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(len(payload)))
	if _, err := c.Write(hdr[:]); err != nil {
		return fmt.Errorf("sending to worker %d: %w", peer, err)
	}
	if _, err := c.Write(payload); err != nil {
		return fmt.Errorf("sending to worker %d: %w", peer, err)
	}
	return nil
}

// maxMessage guards against a corrupt length asking for absurd memory.
const maxMessage = 8 << 30

// Recv reads one message from a peer.
func (mesh *Mesh) Recv(peer int) ([]byte, error) {
	c := mesh.conns[peer]
	if c == nil {
		return nil, fmt.Errorf("no connection to worker %d", peer)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, fmt.Errorf("receiving from worker %d: %w", peer, err)
	}
	n := binary.BigEndian.Uint64(hdr[:])
	if n > maxMessage {
		return nil, fmt.Errorf("worker %d announced a %d-byte message", peer, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, fmt.Errorf("receiving from worker %d: %w", peer, err)
	}
	return buf, nil
}

// Exchange sends out to peer `to` while receiving from peer `from`, as one round of a pairwise exchange does.
func (mesh *Mesh) Exchange(to int, out []byte, from int) ([]byte, error) {
	sent := make(chan error, 1)
	go func() { sent <- mesh.Send(to, out) }()
	in, rerr := mesh.Recv(from)
	serr := <-sent
	return in, errors.Join(serr, rerr)
}

// Close closes every connection.
func (mesh *Mesh) Close() {
	for _, c := range mesh.conns {
		if c != nil {
			c.Close()
		}
	}
}
