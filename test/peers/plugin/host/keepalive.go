package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/rpc"
	"time"

	"github.com/hashicorp/yamux"
)

// runKeepalive checks that the plugin answers yamux keepalive pings:
//   - with go-plugin's own client (default yamux config: a ping every 30 s, 10 s to answer), the
//     session stays usable after `idle`, which must exceed 40 s to catch a missing answer;
//   - with hashicorp's yamux client at a shortened interval over the plugin's socket, the same
//     stream layout as go-plugin, for `fast`: many keepalives, explicit pings, calls in between.
func runKeepalive(argv []string) error {
	fs := flag.NewFlagSet("keepalive", flag.ExitOnError)
	path, pluginArgs := commonFlags(fs)
	idle := fs.Duration("idle", 0, "idle time on a default go-plugin client (0: skip)")
	fast := fs.Duration("fast", 3*time.Second, "time on a shortened-keepalive yamux client (0: skip)")
	fs.Parse(argv)

	if *fast > 0 {
		if err := keepaliveFast(*path, *pluginArgs, *fast); err != nil {
			return fmt.Errorf("shortened keepalive: %v", err)
		}
		fmt.Printf("{\"check\":\"keepalive-fast\",\"ok\":true,\"detail\":\"%v with a 50ms keepalive\"}\n", *fast)
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

func keepaliveFast(path string, args []string, d time.Duration) error {
	client, _, _ := newClient(path, args)
	defer client.Kill()
	addr, err := client.Start() // exec + handshake line; no connection yet
	if err != nil {
		return err
	}
	conn, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		return err
	}
	cfg := yamux.DefaultConfig()
	cfg.KeepAliveInterval = 50 * time.Millisecond
	cfg.ConnectionWriteTimeout = time.Second
	session, err := yamux.Client(conn, cfg)
	if err != nil {
		return err
	}
	defer session.Close()
	// go-plugin's layout: control, stdout, stderr, then a broker stream per Dispense.
	control, err := session.Open()
	if err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		if _, err := session.Open(); err != nil {
			return err
		}
	}
	ctl := rpc.NewClient(control)
	var id uint32
	if err := ctl.Call("Dispenser.Dispense", dispenseName, &id); err != nil {
		return err
	}
	broker, err := session.OpenStream()
	if err != nil {
		return err
	}
	if err := binary.Write(broker, binary.LittleEndian, id); err != nil {
		return err
	}
	var ack uint32
	if err := binary.Read(broker, binary.LittleEndian, &ack); err != nil || ack != id {
		return fmt.Errorf("broker ack %d (want %d): %v", ack, id, err)
	}
	p := &TrafficRouterPluginRPC{client: rpc.NewClient(broker)}
	deadline := time.Now().Add(d)
	pings := 0
	for time.Now().Before(deadline) {
		if session.IsClosed() {
			return fmt.Errorf("session closed after %d pings", pings)
		}
		if _, err := session.Ping(); err != nil {
			return fmt.Errorf("explicit ping %d: %v", pings, err)
		}
		pings++
		var empty struct{}
		if err := ctl.Call("Control.Ping", true, &empty); err != nil {
			return err
		}
		if t := p.Type(); t != "Lockstep" {
			return fmt.Errorf("Type: %q", t)
		}
		time.Sleep(20 * time.Millisecond) // pacing only: keepalives run between the calls
	}
	var empty struct{}
	return ctl.Call("Control.Quit", true, &empty)
}
