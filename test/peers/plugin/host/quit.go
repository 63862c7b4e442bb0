package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// quitProblems stops the plugin with go-plugin's client.Kill() (Control.Quit, then the host
// closes its streams and the session, then waits up to 2 s for the process to exit before it
// SIGKILLs) and lists everything that shows the exit was not clean.
func quitProblems(h *hostSetup) (took time.Duration, problems []string) {
	addr := h.client.ReattachConfig().Addr
	began := time.Now()
	h.client.Kill() // returns after the process has exited and its stderr has been read
	took = time.Since(began)
	hostLog := h.hostLog.String()
	for _, bad := range []string{
		"error closing client during Kill", // Control.Quit or a stream Close failed
		"plugin failed to exit gracefully", // not gone within 2 s: SIGKILLed
		"signal: killed",
		"exit status ", // go-plugin logs a non-zero exit (a crash, a sanitizer report) this way
	} {
		if strings.Contains(hostLog, bad) {
			problems = append(problems, "host log: "+bad)
		}
	}
	if !strings.Contains(hostLog, "plugin exited") {
		problems = append(problems, "host log lacks \"plugin exited\" (Kill's graceful path)")
	}
	if !strings.Contains(h.stderr.String(), `"reason":"Control.Quit"`) {
		problems = append(problems, "the plugin did not log its exit on Control.Quit")
	}
	if took >= 2*time.Second {
		problems = append(problems, fmt.Sprintf("Kill took %v (go-plugin's grace is 2s)", took))
	}
	if addr != nil && addr.Network() == "unix" {
		if _, err := os.Stat(addr.String()); !os.IsNotExist(err) {
			problems = append(problems, "socket left behind: "+addr.String())
		}
	}
	return took, problems
}

// runQuit starts the plugin, uses it, and stops it with client.Kill(), `repeat` times, each in a
// different state: idle, right after a call returned, and while calls are still outstanding.
func runQuit(argv []string) error {
	fs := flag.NewFlagSet("quit", flag.ExitOnError)
	path, pluginArgs := commonFlags(fs)
	repeat := fs.Int("repeat", 20, "start/Kill cycles")
	pluginConfig := fs.String("plugin-config", `{"scaledObjectName":"recommender-so"}`, "plugin config JSON")
	fs.Parse(argv)

	rep := &reporter{out: json.NewEncoder(os.Stdout)}
	ro := buildRollout(fixtureOptions{Namespace: "shop", Name: "recommender", PluginConfig: *pluginConfig, Stable: "recommender-stable", Canary: "recommender-canary"})
	var slowest time.Duration
	for i := 0; i < *repeat; i++ {
		h, err := start(*path, *pluginArgs)
		if err != nil {
			rep.report(fmt.Sprintf("quit-%d", i), false, "%v", err)
			continue
		}
		state := []string{"idle", "after-call", "calls-outstanding"}[i%3]
		switch state {
		case "after-call":
			h.pluginRPC.InitPlugin()
			h.pluginRPC.UpdateHash(ro, "7d9f8b6c5", "6c5b4a392", nil)
		case "calls-outstanding":
			// Argo's workers may be mid-call when the controller shuts down: the calls end
			// with an error or a reply, and the exit must still be clean.
			h.pluginRPC.UpdateHash(ro, "7d9f8b6c5", "6c5b4a392", nil)
			for w := 0; w < 4; w++ {
				go h.pluginRPC.UpdateHash(ro, "7d9f8b6c5", "6c5b4a392", nil)
			}
		}
		took, problems := quitProblems(h)
		if took > slowest {
			slowest = took
		}
		rep.report(fmt.Sprintf("quit-%d-%s", i, state), len(problems) == 0, "Kill took %v; %s", took, strings.Join(problems, "; "))
	}
	rep.report("quit-summary", rep.failed == 0, "%d cycles, slowest Kill %v", *repeat, slowest)
	if rep.failed > 0 {
		return fmt.Errorf("%d checks failed", rep.failed)
	}
	return nil
}
