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
	calls := fs.Int("calls", 2000, "SetWeight calls")
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
	if e := h.pluginRPC.InitPlugin(); e.HasError() {
		return fmt.Errorf("InitPlugin: %s", e.ErrorString)
	}
	ro := buildRollout(fixtureOptions{Namespace: "shop", Name: "recommender", PluginConfig: *pluginConfig, Stable: "recommender-stable", Canary: "recommender-canary"})
	if e := h.pluginRPC.SetWeight(ro, 10, nil); e.HasError() { // carries the type definitions
		return fmt.Errorf("first SetWeight: %s", e.ErrorString)
	}
	lat := make([]time.Duration, 0, *calls)
	for i := 0; i < *calls; i++ {
		w := int32(10 + i%2*10) // alternate 10/20 so every call writes
		t0 := time.Now()
		e := h.pluginRPC.SetWeight(ro, w, nil)
		lat = append(lat, time.Since(t0))
		if e.HasError() {
			return fmt.Errorf("SetWeight %d: %s", i, e.ErrorString)
		}
	}
	_, argBytes := countTypeDefinitions(SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: 10})
	rss, hwm := procMemory(h.client.ReattachConfig().Pid)
	out := map[string]interface{}{
		"start_to_handshake_ms": percentiles(startTimes),
		"set_weight_us":         percentiles(lat),
		"set_weight_calls":      *calls,
		"first_call_arg_bytes":  argBytes,
		"rss_kib":               rss,
		"hwm_kib":               hwm,
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func percentiles(d []time.Duration) map[string]float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	unit := float64(time.Microsecond)
	if len(d) > 0 && d[0] > 100*time.Microsecond && len(d) <= 100 {
		unit = float64(time.Millisecond) // starts are reported in ms
	}
	at := func(q float64) float64 {
		if len(d) == 0 {
			return 0
		}
		i := int(q * float64(len(d)-1))
		return float64(d[i]) / unit
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
