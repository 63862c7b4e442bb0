package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// runBench measures, through go-plugin's real client:
//   - start to handshake: exec until the handshake line has been read (client.Start), per start;
//   - SetWeight round trips on a Rollout with a full pod template (first call excluded);
//   - the plugin's resident memory (VmRSS, VmHWM) after the calls.
func runBench(argv []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	path, pluginArgs := commonFlags(fs)
	calls := fs.Int("calls", 2000, "timed calls")
	method := fs.String("method", "SetWeight", "SetWeight (writes: alternates 10/20) or UpdateHash (no I/O)")
	starts := fs.Int("starts", 30, "plugin starts to time")
	pluginConfig := fs.String("plugin-config", `{"scaledObjectName":"recommender-so"}`, "plugin config JSON")
	fs.Parse(argv)

	startTimes := make([]time.Duration, 0, *starts)
	for i := 0; i < *starts; i++ {
		client, _, _ := newClient(*path, *pluginArgs)
		t0 := time.Now()
		if _, err := client.Start(); err != nil {
			return err
		}
		startTimes = append(startTimes, time.Since(t0))
		client.Kill()
	}

	h, err := start(*path, *pluginArgs)
	if err != nil {
		return err
	}
	defer h.client.Kill()
	if e := h.pluginRPC.InitPlugin(); e.HasError() && *method == "SetWeight" {
		return fmt.Errorf("InitPlugin: %s", e.ErrorString)
	}
	ro := buildRollout(fixtureOptions{Namespace: "shop", Name: "recommender", PluginConfig: *pluginConfig, Stable: "recommender-stable", Canary: "recommender-canary"})
	if e := h.pluginRPC.SetWeight(ro, 10, nil); e.HasError() { // carries the type definitions
		return fmt.Errorf("first SetWeight: %s", e.ErrorString)
	}
	lat := make([]time.Duration, 0, *calls)
	for i := 0; i < *calls; i++ {
		var e RpcError
		t0 := time.Now()
		if *method == "UpdateHash" {
			e = h.pluginRPC.UpdateHash(ro, "7d9f8b6c5", "6c5b4a392", nil)
		} else {
			e = h.pluginRPC.SetWeight(ro, int32(10+i%2*10), nil) // alternate so every call writes
		}
		lat = append(lat, time.Since(t0))
		if e.HasError() {
			return fmt.Errorf("%s %d: %s", *method, i, e.ErrorString)
		}
	}
	_, argBytes := countTypeDefinitions(SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: 10})
	rss, hwm := procMemory(h.client.ReattachConfig().Pid)
	out := map[string]interface{}{
		"start_to_handshake_ms": percentiles(startTimes, time.Millisecond),
		"method":                *method,
		"call_us":               percentiles(lat, time.Microsecond),
		"calls":                 *calls,
		"first_call_arg_bytes":  argBytes,
		"rss_kib":               rss,
		"hwm_kib":               hwm,
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func percentiles(d []time.Duration, unit time.Duration) map[string]float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 {
		if len(d) == 0 {
			return 0
		}
		i := int(q * float64(len(d)-1))
		return float64(d[i]) / float64(unit)
	}
	return map[string]float64{"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1)}
}

func procMemory(pid int) (rss, hwm int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		fmt.Sscanf(line, "VmRSS: %d kB", &rss)
		fmt.Sscanf(line, "VmHWM: %d kB", &hwm)
	}
	return rss, hwm
}
