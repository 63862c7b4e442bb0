// lockstep-plugin-host drives lockstep-rollouts-plugin exactly as argo-rollouts' controller does:
// hashicorp go-plugin's client with Argo's HandshakeConfig, plugin map and dispense name, the
// netrpc protocol, and Rollout values of Argo's shape.
//
//	lockstep-plugin-host conformance -plugin PATH [flags]   every method; one JSON line per check
//	lockstep-plugin-host keepalive   -plugin PATH [-fast 2s] [-interval 50ms] [-idle 45s]
//	lockstep-plugin-host quit        -plugin PATH [-repeat 20]  client.Kill() exits cleanly every time
//	lockstep-plugin-host bench       -plugin PATH [-calls N] [-starts N]
//	lockstep-plugin-host fixtures    -out DIR               gob request streams for C++ tests
//	lockstep-plugin-host serve-go-plugin                    a Go plugin (go-plugin Serve), the benchmark peer
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// handshake and pluginMap are argo-rollouts' (rollout/trafficrouting/plugin/client/client.go).
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ARGO_ROLLOUTS_RPC_PLUGIN",
	MagicCookieValue: "trafficrouter",
}

var pluginMap = map[string]plugin.Plugin{
	"RpcTrafficRouterPlugin": &RpcTrafficRouterPlugin{},
}

const dispenseName = "RpcTrafficRouterPlugin"

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// lockedBuffer collects the plugin's stderr lines and the host logger's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type hostSetup struct {
	client    *plugin.Client
	stderr    *lockedBuffer
	hostLog   *lockedBuffer
	pluginRPC *TrafficRouterPluginRPC
}

// newClient builds the client as Argo does (Managed, netrpc), adding only observation: the
// plugin's stderr and the host logger are captured for the checks.
func newClient(path string, args []string) (*plugin.Client, *lockedBuffer, *lockedBuffer) {
	stderr := &lockedBuffer{}
	hostLog := &lockedBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "host",
		Level:  hclog.Debug,
		Output: io.MultiWriter(os.Stderr, hostLog),
	})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         pluginMap,
		Cmd:             exec.Command(path, args...),
		Managed:         true,
		Stderr:          stderr,
		Logger:          logger,
	})
	return client, stderr, hostLog
}

func start(path string, args []string) (*hostSetup, error) {
	client, stderr, hostLog := newClient(path, args)
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start plugin: %v", err)
	}
	raw, err := rpcClient.Dispense(dispenseName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("dispense %s: %v", dispenseName, err)
	}
	rpc, ok := raw.(*TrafficRouterPluginRPC)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("dispense returned %T", raw)
	}
	return &hostSetup{client: client, stderr: stderr, hostLog: hostLog, pluginRPC: rpc}, nil
}

// result is one check, printed as a JSON line for the CTest driver.
type result struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

type reporter struct {
	mu     sync.Mutex
	failed int
	out    *json.Encoder
}

func (r *reporter) report(check string, ok bool, format string, args ...interface{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok {
		r.failed++
	}
	r.out.Encode(result{Check: check, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lockstep-plugin-host conformance|keepalive|quit|bench|fixtures [flags]")
		os.Exit(2)
	}
	mode, rest := os.Args[1], os.Args[2:]
	var err error
	switch mode {
	case "serve-go-plugin":
		runServeGoPlugin()
		return
	case "conformance":
		err = runConformance(rest)
	case "keepalive":
		err = runKeepalive(rest)
	case "quit":
		err = runQuit(rest)
	case "bench":
		err = runBench(rest)
	case "fixtures":
		err = runFixtures(rest)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lockstep-plugin-host:", err)
		os.Exit(1)
	}
}

func commonFlags(fs *flag.FlagSet) (*string, *stringList) {
	path := fs.String("plugin", "", "path of lockstep-rollouts-plugin")
	var args stringList
	fs.Var(&args, "plugin-arg", "argument for the plugin (repeatable), as the ConfigMap's args")
	return path, &args
}
