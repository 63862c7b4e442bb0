package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// runConfigs writes the programs' config files as the chart renders them (the data of the
// <fullname>-scaler and <fullname>-proxy ConfigMaps) into dir, so that the programs' own
// settings loaders can be run on exactly what a pod would read.
func runConfigs(c *common, dir string) []string {
	if dir == "" {
		return []string{"--dir is required"}
	}
	_, _, out, err := c.render(false)
	if err != nil {
		return []string{err.Error()}
	}
	o, p := Decode(out)
	if len(p) > 0 {
		return p
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return []string{err.Error()}
	}
	written := 0
	for _, cm := range o.ConfigMaps {
		for key, data := range cm.Data {
			if (strings.HasSuffix(cm.Metadata.Name, "-scaler") && key == "scaler.yaml") ||
				(strings.HasSuffix(cm.Metadata.Name, "-proxy") && key == "proxy.yaml") {
				if err := os.WriteFile(filepath.Join(dir, key), []byte(data), 0o644); err != nil {
					return []string{err.Error()}
				}
				written++
			}
		}
	}
	if written != 2 {
		return []string{fmt.Sprintf("expected scaler.yaml and proxy.yaml, found %d config files", written)}
	}
	// The containers' other arguments (flags win over the file), one per line.
	for _, d := range o.Deployments {
		for _, ctr := range d.Spec.Template.Spec.Containers {
			if ctr.Name != "scaler" && ctr.Name != "proxy" {
				continue
			}
			var args []string
			for _, a := range ctr.Args {
				if !strings.HasPrefix(a, "--config=") {
					args = append(args, a)
				}
			}
			text := strings.Join(args, "\n")
			if text != "" {
				text += "\n"
			}
			if err := os.WriteFile(filepath.Join(dir, ctr.Name+".args"), []byte(text), 0o644); err != nil {
				return []string{err.Error()}
			}
		}
	}
	// Every ScaledObject's external (lockstep) triggers, for the scaler's own metadata parser.
	type trigger struct {
		Namespace string            `json:"namespace"`
		Name      string            `json:"name"`
		Type      string            `json:"type"`
		Metadata  map[string]string `json:"metadata"`
	}
	triggers := []trigger{}
	for _, so := range o.ScaledObjects {
		for _, t := range so.Spec.Triggers {
			if t.Type == "external" || t.Type == "external-push" {
				triggers = append(triggers, trigger{so.Metadata.Namespace, so.Metadata.Name, t.Type, t.Metadata})
			}
		}
	}
	js, err := json.MarshalIndent(triggers, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "triggers.json"), js, 0o644)
	}
	if err != nil {
		return []string{err.Error()}
	}
	fmt.Printf("wrote scaler.yaml, proxy.yaml, their .args and %d lockstep triggers to %s\n", len(triggers), dir)
	return nil
}
