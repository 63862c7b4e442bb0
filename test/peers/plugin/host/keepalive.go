package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/rpc"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// runKeepalive checks that the plugin answers yamux keepalive pings:
//   - `fast`: hashicorp's yamux client with a shortened KeepAliveInterval over the plugin's
//     socket, with go-plugin's stream layout (go-plugin itself always runs yamux.Client(conn,
//     nil), so its 30 s interval cannot be shortened). The session first idles for many
//     intervals with no call at all, then serves calls and explicit pings in between
//     keepalives; the Ping ACKs the plugin sends are counted on the wire.
//   - `idle`: go-plugin's own client (default config: a ping every 30 s, 10 s to answer) stays
//     usable after `idle`; manual runs only (it adds nothing the fast check misses).
func runKeepalive(argv []string) error {
	fs := flag.NewFlagSet("keepalive", flag.ExitOnError)
	path, pluginArgs := commonFlags(fs)
	idle := fs.Duration("idle", 0, "idle time on a default go-plugin client (0: skip)")
	fast := fs.Duration("fast", 2*time.Second, "time on a shortened-keepalive yamux client (0: skip)")
	interval := fs.Duration("interval", 50*time.Millisecond, "the shortened keepalive interval")
	fs.Parse(argv)

	if *fast > 0 {
		detail, err := keepaliveFast(*path, *pluginArgs, *fast, *interval)
		if err != nil {
			return fmt.Errorf("shortened keepalive: %v", err)
		}
		fmt.Printf("{\"check\":\"keepalive-fast\",\"ok\":true,\"detail\":%q}\n", detail)
	}
	if *idle > 0 {
		h, err := start(*path, *pluginArgs)
		if err != nil {
			return err
		}
		defer h.client.Kill()
		if t := h.pluginRPC.Type(); t != "Lockstep" {
			return fmt.Errorf("Type before idling: %q", t)
		}
		time.Sleep(*idle) // the condition under test is the passage of time itself
		rpcClient, err := h.client.Client()
		if err != nil {
			return err
		}
		if err := rpcClient.Ping(); err != nil {
			return fmt.Errorf("Control.Ping after %v idle: %v", *idle, err)
		}
		if t := h.pluginRPC.Type(); t != "Lockstep" {
			return fmt.Errorf("Type after %v idle: %q", *idle, t)
		}
		fmt.Printf("{\"check\":\"keepalive-idle\",\"ok\":true,\"detail\":\"session alive after %v idle\"}\n", *idle)
	}
	return nil
}

// pingAckCounter passes a connection through and counts the yamux Ping frames with ACK that
// arrive on it: the plugin's answers to keepalives and explicit pings.
type pingAckCounter struct {
	net.Conn
	acks    int64 // atomic
	header  [12]byte
	have    int    // bytes of the current header read so far
	payload uint32 // Data payload bytes still to skip
}

func (c *pingAckCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for b := p[:n]; len(b) > 0; {
		if c.payload > 0 {
			skip := uint32(len(b))
			if skip > c.payload {
				skip = c.payload
			}
			c.payload -= skip
			b = b[skip:]
			continue
		}
		k := copy(c.header[c.have:], b)
		c.have += k
		b = b[k:]
		if c.have < len(c.header) {
			break
		}
		c.have = 0
		typ, flags := c.header[1], binary.BigEndian.Uint16(c.header[2:4])
		length := binary.BigEndian.Uint32(c.header[8:12])
		if typ == 0 { // Data
			c.payload = length
		} else if typ == 2 && flags&0x2 != 0 { // Ping with ACK
			atomic.AddInt64(&c.acks, 1)
		}
	}
	return n, err
}

func (c *pingAckCounter) count() int64 { return atomic.LoadInt64(&c.acks) }

func keepaliveFast(path string, args []string, d, interval time.Duration) (string, error) {
	client, _, _ := newClient(path, args)
	defer client.Kill()
	addr, err := client.Start() // exec + handshake line; no connection yet
	if err != nil {
		return "", err
	}
	raw, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		return "", err
	}
	conn := &pingAckCounter{Conn: raw}
	cfg := yamux.DefaultConfig()
	cfg.KeepAliveInterval = interval
	cfg.ConnectionWriteTimeout = 10 * interval // a keepalive unanswered for this long ends the session
	session, err := yamux.Client(conn, cfg)
	if err != nil {
		return "", err
	}
	defer session.Close()
	// go-plugin's layout: control, stdout, stderr, then a broker stream per Dispense.
	control, err := session.Open()
	if err != nil {
		return "", err
	}
	for i := 0; i < 2; i++ {
		if _, err := session.Open(); err != nil {
			return "", err
		}
	}
	ctl := rpc.NewClient(control)
	var id uint32
	if err := ctl.Call("Dispenser.Dispense", dispenseName, &id); err != nil {
		return "", err
	}
	broker, err := session.OpenStream()
	if err != nil {
		return "", err
	}
	if err := binary.Write(broker, binary.LittleEndian, id); err != nil {
		return "", err
	}
	var ack uint32
	if err := binary.Read(broker, binary.LittleEndian, &ack); err != nil || ack != id {
		return "", fmt.Errorf("broker ack %d (want %d): %v", ack, id, err)
	}
	p := &TrafficRouterPluginRPC{client: rpc.NewClient(broker)}
	if t := p.Type(); t != "Lockstep" {
		return "", fmt.Errorf("Type: %q", t)
	}

	// Idle: nothing but keepalives for many intervals.
	idleFor := d / 2
	before := conn.count()
	time.Sleep(idleFor) // the condition under test is the passage of time itself
	idleAcks := conn.count() - before
	if session.IsClosed() {
		return "", fmt.Errorf("session closed while idle (%d keepalives answered)", idleAcks)
	}
	if want := int64(idleFor / interval / 2); idleAcks < want {
		return "", fmt.Errorf("%d keepalive answers in %v of idling with a %v interval, want at least %d", idleAcks, idleFor, interval, want)
	}
	var empty struct{}
	if err := ctl.Call("Control.Ping", true, &empty); err != nil {
		return "", fmt.Errorf("Control.Ping after idling: %v", err)
	}

	// Busy: calls and explicit pings between the keepalives.
	deadline := time.Now().Add(d - idleFor)
	pings := 0
	for time.Now().Before(deadline) {
		if session.IsClosed() {
			return "", fmt.Errorf("session closed after %d explicit pings", pings)
		}
		if _, err := session.Ping(); err != nil {
			return "", fmt.Errorf("explicit ping %d: %v", pings, err)
		}
		pings++
		if err := ctl.Call("Control.Ping", true, &empty); err != nil {
			return "", err
		}
		if t := p.Type(); t != "Lockstep" {
			return "", fmt.Errorf("Type: %q", t)
		}
		time.Sleep(20 * time.Millisecond) // pacing only: keepalives run between the calls
	}
	total := conn.count()
	if total < idleAcks+int64(pings) {
		return "", fmt.Errorf("%d Ping ACKs on the wire, fewer than the %d pings answered", total, idleAcks+int64(pings))
	}
	if err := ctl.Call("Control.Quit", true, &empty); err != nil {
		return "", err
	}
	return fmt.Sprintf("%v idle with a %v keepalive: %d answered; then %d explicit pings and calls; %d Ping ACKs in all",
		idleFor, interval, idleAcks, pings, total), nil
}
