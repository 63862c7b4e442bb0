package main

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// countTypeDefinitions encodes v as the controller's first call on a stream would and counts the
// type definitions in it.
func countTypeDefinitions(v interface{}) (defs int, bytesOut int) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	if err := enc.Encode(&v); err != nil {
		return -1, 0
	}
	data := buf.Bytes()
	bytesOut = len(data)
	// Walk the length-prefixed messages; a message whose first int is negative (or, for the
	// first one, which carries the interface name) holds one definition.
	for first := true; len(data) > 0; first = false {
		n, w := gobUint(data)
		msg := data[w : w+int(n)]
		data = data[w+int(n):]
		if first {
			// 0x10 0x00 name-length name, then the first definition.
			defs++
			continue
		}
		id, _ := gobUint(msg)
		if id&1 == 1 { // a negative type id: a definition
			defs++
		}
	}
	return defs, bytesOut
}

func gobUint(b []byte) (uint64, int) {
	if b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	n := int(-int8(b[0]))
	var v uint64
	for i := 1; i <= n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n + 1
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// checkHclog verifies that every stderr line is an hclog JSON object whose @message, @level and
// @timestamp are strings in the layouts go-plugin's host parses.
func checkHclog(text string) (int, error) {
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		lines++
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return lines, fmt.Errorf("not JSON: %q", line)
		}
		for _, k := range []string{"@message", "@level", "@timestamp"} {
			if _, ok := m[k].(string); !ok {
				return lines, fmt.Errorf("%s is not a string in %q", k, line)
			}
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", m["@timestamp"].(string)); err != nil {
			return lines, fmt.Errorf("@timestamp: %v", err)
		}
	}
	if lines == 0 {
		return 0, fmt.Errorf("the plugin logged nothing on stderr")
	}
	return lines, nil
}

func runConformance(argv []string) error {
	fs := flag.NewFlagSet("conformance", flag.ExitOnError)
	path, pluginArgs := commonFlags(fs)
	ns := fs.String("namespace", "shop", "Rollout namespace")
	name := fs.String("name", "recommender", "Rollout name")
	stable := fs.String("stable", "recommender-stable", "stable Service")
	canary := fs.String("canary", "recommender-canary", "canary Service")
	pluginConfig := fs.String("plugin-config", `{"scaledObjectName":"recommender-so"}`, "plugin config JSON")
	kube := fs.Bool("kube", true, "a Kubernetes API is reachable: the writing methods must succeed")
	expectVerified := fs.Int("expect-verified", -1, "VerifyWeight's expected answer (0, 1, 2; -1: any)")
	minTypedefs := fs.Int("min-typedefs", 180, "fewest type definitions the first Rollout call must carry")
	fs.Parse(argv)

	rep := &reporter{out: json.NewEncoder(os.Stdout)}
	began := time.Now()
	h, err := start(*path, *pluginArgs)
	if err != nil {
		rep.report("start", false, "%v", err)
		return fmt.Errorf("%d checks failed", rep.failed)
	}
	rep.report("start", true, "client + dispense in %v", time.Since(began))
	p := h.pluginRPC
	rolloutID := *ns + "/" + *name
	opts := fixtureOptions{Namespace: *ns, Name: *name, PluginConfig: *pluginConfig, Stable: *stable, Canary: *canary, ManagedRoutes: []string{"canary-header"}}
	ro := buildRollout(opts)
	expectWrite := func(check string, e RpcError) {
		if *kube {
			rep.report(check, !e.HasError(), "%s", e.ErrorString)
		} else {
			rep.report(check, e.HasError() && strings.Contains(e.ErrorString, rolloutID), "without Kubernetes: %s", e.ErrorString)
		}
	}

	init := p.InitPlugin()
	rep.report("init", !*kube || !init.HasError(), "%s", init.ErrorString)

	rpcClient, _ := h.client.Client()
	pingErr := error(nil)
	for i := 0; i < 3 && pingErr == nil; i++ {
		pingErr = rpcClient.Ping()
	}
	rep.report("control-ping", pingErr == nil, "%v", pingErr)

	typ := p.Type()
	rep.report("type", typ == "Lockstep", "%q", typ)

	defs, size := countTypeDefinitions(SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: 20})
	rep.report("first-call-typedefs", defs >= *minTypedefs, "%d type definitions, %d bytes", defs, size)
	expectWrite("set-weight", p.SetWeight(ro, 20, nil))

	invalid := p.SetWeight(ro, 101, nil)
	rep.report("set-weight-over-max", contains(invalid.ErrorString, rolloutID, "weight"), "%s", invalid.ErrorString)
	negative := p.SetWeight(ro, -5, nil)
	rep.report("set-weight-negative", contains(negative.ErrorString, rolloutID, "weight"), "%s", negative.ErrorString)
	overflow := p.SetWeight(ro, 80, []WeightDestination{{ServiceName: "recommender-preview", Weight: 30}})
	rep.report("set-weight-sum-over-max", contains(overflow.ErrorString, rolloutID, "weight"), "%s", overflow.ErrorString)

	hash := p.UpdateHash(ro, "7d9f8b6c5", "6c5b4a392", nil)
	rep.report("update-hash", !hash.HasError(), "%s", hash.ErrorString)

	verified, verr := p.VerifyWeight(ro, 20, nil)
	rep.report("verify-weight", (*expectVerified < 0 || int(verified) == *expectVerified) && !verr.HasError(),
		"verified=%d err=%q", verified, verr.ErrorString)

	header := SetHeaderRoute{Name: "canary-header", Match: []HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &StringMatch{Exact: "yes"}}}}
	expectWrite("set-header-route", p.SetHeaderRoute(ro, &header))

	mirror := SetMirrorRoute{Name: "mirror-all", Match: []RouteMatch{{Path: &StringMatch{Prefix: "/"}}}, Percentage: i32(10)}
	merr := p.SetMirrorRoute(ro, &mirror)
	rep.report("set-mirror-route-refused", contains(merr.ErrorString, rolloutID, "mirror"), "%s", merr.ErrorString)

	expectWrite("remove-managed-routes", p.RemoveManagedRoutes(ro))

	additional := []WeightDestination{{ServiceName: "recommender-preview", Weight: 10, PodTemplateHash: "1a2b3c4d5"}}
	expectWrite("set-weight-additional-destinations", p.SetWeight(ro, 30, additional))

	bad := buildRollout(fixtureOptions{Namespace: *ns, Name: *name, PluginConfig: `{"scaledObjectName": 5}`, Stable: *stable, Canary: *canary})
	berr := p.SetWeight(bad, 30, nil)
	rep.report("bad-plugin-config", contains(berr.ErrorString, rolloutID, "scaledObjectName"), "%s", berr.ErrorString)

	// Argo's workers share one rpc.Client: many calls outstanding on the same stream at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	const workers, rounds = 24, 8
	concurrentStart := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var problem string
				switch (w + i) % 4 {
				case 0:
					if t := p.Type(); t != "Lockstep" {
						problem = "Type: " + t
					}
				case 1:
					if err := rpcClient.Ping(); err != nil {
						problem = "Ping: " + err.Error()
					}
				case 2:
					if e := p.SetWeight(ro, 30, additional); *kube && e.HasError() {
						problem = "SetWeight: " + e.ErrorString
					}
				case 3:
					if e := p.UpdateHash(ro, "7d9f8b6c5", "6c5b4a392", additional); e.HasError() {
						problem = "UpdateHash: " + e.ErrorString
					}
				}
				if problem != "" {
					mu.Lock()
					failures = append(failures, problem)
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	rep.report("concurrent-calls", len(failures) == 0, "%d calls from %d goroutines in %v; failures: %v",
		workers*rounds, workers, time.Since(concurrentStart), failures)

	big := buildRollout(fixtureOptions{Namespace: *ns, Name: *name, PluginConfig: *pluginConfig, Stable: *stable, Canary: *canary, ManagedRoutes: []string{"canary-header"}, PaddingBytes: 600 << 10})
	_, bigSize := countTypeDefinitions(SetWeightAndVerifyWeightArgs{Rollout: *big})
	bigStart := time.Now()
	bigErr := p.SetWeight(big, 30, additional)
	if *kube {
		rep.report("payload-over-256KiB", !bigErr.HasError() && bigSize > 256<<10, "%d bytes in %v: %s", bigSize, time.Since(bigStart), bigErr.ErrorString)
	} else {
		rep.report("payload-over-256KiB", contains(bigErr.ErrorString, rolloutID) && bigSize > 256<<10, "%d bytes: %s", bigSize, bigErr.ErrorString)
	}
	typ = p.Type()
	rep.report("after-large-payload", typ == "Lockstep", "%q", typ)

	// The state the fake Kubernetes API must hold afterwards (checked by the CTest driver):
	// weight 30, the preview destination at 10, and the canary-header route.
	expectWrite("final-header-route", p.SetHeaderRoute(ro, &header))

	lines, herr := checkHclog(h.stderr.String())
	rep.report("stderr-is-hclog-json", herr == nil, "%d lines; %v", lines, herr)

	quitTook, quitIssues := quitProblems(h)
	rep.report("control-quit", len(quitIssues) == 0, "Kill took %v; %s", quitTook, strings.Join(quitIssues, "; "))
	if rep.failed > 0 {
		return fmt.Errorf("%d checks failed", rep.failed)
	}
	return nil
}
