// A chart renderer that behaves like Helm 3's template engine, written from Helm's documented
// behaviour: Go text/template with sprig's TxtFuncMap (minus env/expandenv, which Helm removes),
// Helm's own functions (include, tpl, required, toYaml, fromYaml, toJson, lookup, ...), the
// built-in objects (.Values, .Release, .Chart, .Capabilities, .Files, .Template), values coalescing
// (user files over chart defaults, null deletes a default) and Helm's "<no value>" scrubbing.
// No Helm binary can run here; this is the same engine Helm uses, so what renders here renders
// in `helm template`/`helm install`.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// ChartMetadata mirrors the fields of Chart.yaml that Helm exposes as .Chart (Helm capitalises
// them: .Chart.Name, .Chart.AppVersion, ...).
type ChartMetadata struct {
	APIVersion   string            `json:"apiVersion"`
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Description  string            `json:"description,omitempty"`
	Type         string            `json:"type,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Maintainers  []interface{}     `json:"maintainers,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
}

// Chart is a loaded chart directory.
type Chart struct {
	Dir       string
	Metadata  ChartMetadata
	Defaults  map[string]interface{}
	Templates map[string]string // "<chart>/templates/<rel>" -> text
	Files     Files             // every other file, as .Files sees it
	Schema    *Schema           // values.schema.json, if the chart has one
}

// Files is .Files: the chart's non-template files by chart-relative path.
type Files map[string][]byte

// Get returns the file's content, or "" when it does not exist (as Helm does).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns the raw content.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Glob returns the files whose path matches the shell pattern (a "**" segment matches any depth).
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if globMatch(pattern, name) {
			out[name] = data
		}
	}
	return out
}

// AsConfig renders the files as a YAML map of base name -> content, for ConfigMap data.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

// AsSecrets renders the files as a YAML map of base name -> base64 content, for Secret data.
func (f Files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

// Lines splits a file into lines (no trailing empty line for a final newline).
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func globMatch(pattern, name string) bool {
	if strings.Contains(pattern, "**") {
		// "a/**/b" or "a/**": match the prefix, then any suffix that matches the rest.
		parts := strings.SplitN(pattern, "**", 2)
		if !strings.HasPrefix(name, parts[0]) {
			return false
		}
		rest := strings.TrimPrefix(parts[1], "/")
		if rest == "" {
			return true
		}
		tail := strings.TrimPrefix(name, parts[0])
		segs := strings.Split(tail, "/")
		for i := range segs {
			if ok, _ := path.Match(rest, strings.Join(segs[i:], "/")); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// LoadChart reads Chart.yaml, values.yaml, templates/ and the other files (minus .helmignore'd ones).
func LoadChart(dir string) (*Chart, error) {
	c := &Chart{Dir: dir, Templates: map[string]string{}, Files: Files{}}
	meta, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	if err := yaml.UnmarshalStrict(meta, &c.Metadata); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if c.Metadata.APIVersion != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2 (Helm 3), got %q", c.Metadata.APIVersion)
	}
	if c.Metadata.Name == "" || c.Metadata.Version == "" {
		return nil, fmt.Errorf("Chart.yaml: name and version are required")
	}
	c.Defaults = map[string]interface{}{}
	if data, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if err := yaml.Unmarshal(data, &c.Defaults); err != nil {
			return nil, fmt.Errorf("values.yaml: %w", err)
		}
		if c.Defaults == nil {
			c.Defaults = map[string]interface{}{}
		}
	}
	if c.Schema, err = LoadSchema(dir); err != nil {
		return nil, err
	}
	ignore := []string{}
	if data, err := os.ReadFile(filepath.Join(dir, ".helmignore")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				ignore = append(ignore, line)
			}
		}
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(ignore, rel, info.IsDir()) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.Templates[c.Metadata.Name+"/"+rel] = string(data)
		case strings.HasPrefix(rel, "charts/"):
			return fmt.Errorf("%s: subcharts are not supported by this renderer", rel)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" ||
			rel == "Chart.lock" || rel == "requirements.yaml" || rel == "requirements.lock":
		default:
			c.Files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ignored applies .helmignore rules in their common forms: "name", "dir/", "*.ext", "path/glob".
func ignored(rules []string, rel string, isDir bool) bool {
	base := path.Base(rel)
	for _, r := range rules {
		dirOnly := strings.HasSuffix(r, "/")
		r = strings.TrimSuffix(r, "/")
		if dirOnly && !isDir {
			continue
		}
		if ok, _ := path.Match(r, base); ok {
			return true
		}
		if ok, _ := path.Match(r, rel); ok {
			return true
		}
	}
	return false
}

// ReadValuesFile parses a user values file the way Helm does (YAML via JSON: numbers are float64).
func ReadValuesFile(p string) (map[string]interface{}, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	v := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if v == nil {
		v = map[string]interface{}{}
	}
	return v, nil
}

// MergeUserValues merges several -f files in order, later files winning, maps merged recursively.
func MergeUserValues(files ...map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for _, f := range files {
		mergeMaps(out, f)
	}
	return out
}

func mergeMaps(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				mergeMaps(dm, sm)
				continue
			}
			cp := map[string]interface{}{}
			mergeMaps(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// CoalesceValues lays user values over the chart defaults as Helm does: maps merge recursively,
// lists and scalars are replaced, and a user `null` deletes the default.
func CoalesceValues(defaults, user map[string]interface{}) map[string]interface{} {
	out := deepCopyMap(user)
	coalesceInto(out, defaults)
	return out
}

func coalesceInto(dst, defaults map[string]interface{}) {
	for k, dv := range defaults {
		uv, present := dst[k]
		if !present {
			dst[k] = deepCopy(dv)
			continue
		}
		if uv == nil {
			delete(dst, k)
			continue
		}
		um, uok := uv.(map[string]interface{})
		dm, dok := dv.(map[string]interface{})
		if uok && dok {
			coalesceInto(um, dm)
		}
		// Type mismatch (user scalar over a default map or vice versa): Helm keeps the user value.
	}
	// A null the user set for a key the chart has no default for is dropped as well.
	for k, v := range dst {
		if v == nil {
			if _, inDefaults := defaults[k]; !inDefaults {
				delete(dst, k)
			}
		}
	}
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		return deepCopyMap(t)
	case []interface{}:
		out := make([]interface{}, len(t))
		for i := range t {
			out[i] = deepCopy(t[i])
		}
		return out
	default:
		return v
	}
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

// Release is .Release.
type Release struct {
	Name      string
	Namespace string
	Service   string
	IsInstall bool
	IsUpgrade bool
	Revision  int
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has reports whether "group/version" or "group/version/Kind" is available.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// builtinAPIVersions are the group/versions a Kubernetes 1.29 API server serves out of the box;
// `helm template` assumes these when it cannot ask a cluster (CRD groups are absent unless given
// with --api-versions).
var builtinAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
	"rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "discovery.k8s.io/v1",
	"coordination.k8s.io/v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"scheduling.k8s.io/v1", "storage.k8s.io/v1", "certificates.k8s.io/v1",
	"events.k8s.io/v1", "node.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3",
}

// RenderOptions select the release, the cluster capabilities and Helm's strict mode.
type RenderOptions struct {
	Release     Release
	KubeVersion string   // e.g. "v1.29.0"
	APIVersions []string // extra group/versions (CRDs), like `helm template --api-versions`
	// Strict makes a missing map key an error (Helm's `lint --strict`); otherwise it renders as
	// empty, as `helm install` does.
	Strict bool
}

// Rendered is one template's output.
type Rendered struct {
	Template string // "<chart>/templates/<file>"
	Text     string
}

const recursionLimit = 1000

// Render renders every template of the chart whose base name does not start with "_".
// NOTES.txt is rendered too (Helm renders it for install output) and returned like the others.
func Render(c *Chart, values map[string]interface{}, opt RenderOptions) ([]Rendered, error) {
	// Like Helm, refuse values that do not meet values.schema.json before rendering anything.
	if c.Schema != nil {
		if errs := ValidateValues(c.Schema, values); len(errs) > 0 {
			return nil, fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n- %s",
				c.Metadata.Name, strings.Join(errs, "\n- "))
		}
	}
	kv := opt.KubeVersion
	if kv == "" {
		kv = "v1.29.0"
	}
	parts := strings.SplitN(strings.TrimPrefix(kv, "v"), ".", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("kube version %q is not vMAJOR.MINOR.PATCH", kv)
	}
	caps := Capabilities{
		KubeVersion: KubeVersion{Version: kv, Major: parts[0], Minor: parts[1], GitVersion: kv},
		APIVersions: append(append(VersionSet{}, builtinAPIVersions...), opt.APIVersions...),
		HelmVersion: map[string]string{"Version": "v3.14.0"},
	}
	if opt.Release.Service == "" {
		opt.Release.Service = "Helm"
	}
	if opt.Release.Revision == 0 {
		opt.Release.Revision = 1
	}
	if !opt.Release.IsUpgrade {
		opt.Release.IsInstall = true
	}

	top := map[string]interface{}{
		"Values":       values,
		"Release":      opt.Release,
		"Chart":        c.Metadata,
		"Capabilities": caps,
		"Files":        c.Files,
		"Subcharts":    map[string]interface{}{},
	}

	root := template.New("gotpl")
	if opt.Strict {
		root.Option("missingkey=error")
	} else {
		root.Option("missingkey=zero")
	}
	installFuncs(root, opt.Strict)

	names := make([]string, 0, len(c.Templates))
	for n := range c.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := root.New(n).Parse(c.Templates[n]); err != nil {
			return nil, fmt.Errorf("parse error: %w", err)
		}
	}

	var out []Rendered
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{
			"Name":     n,
			"BasePath": c.Metadata.Name + "/templates",
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, vals); err != nil {
			return nil, fmt.Errorf("render error: %w", err)
		}
		out = append(out, Rendered{Template: n, Text: strings.ReplaceAll(buf.String(), "<no value>", "")})
	}
	return out, nil
}

// installFuncs gives t sprig's text functions (minus env/expandenv) and Helm's own functions.
// include and tpl close over t, so partials defined in any template are reachable from both.
func installFuncs(t *template.Template, strict bool) {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")

	f["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return "" // Helm swallows marshalling errors here
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		a := []interface{}{}
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		a := []interface{}{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	// Without a cluster (helm template, --dry-run), lookup finds nothing.
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}

	included := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if included[name] > recursionLimit {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		included[name]++
		defer func() { included[name]-- }()
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		if strict {
			clone.Option("missingkey=error")
		} else {
			clone.Option("missingkey=zero")
		}
		// The Template object seen inside tpl keeps the caller's, as Helm arranges.
		name := "tpl"
		if m, ok := data.(map[string]interface{}); ok {
			if tm, ok := m["Template"].(map[string]interface{}); ok {
				if n, ok := tm["Name"].(string); ok {
					name = n + "#tpl"
				}
			}
		}
		if _, err := clone.New(name).Parse(text); err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf bytes.Buffer
		if err := clone.ExecuteTemplate(&buf, name, data); err != nil {
			return "", fmt.Errorf("error calling tpl: %w", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	t.Funcs(f)
}

// SplitDocuments splits a rendered template into YAML documents, dropping the empty ones
// (only whitespace and comments), as Helm's manifest splitter does.
func SplitDocuments(text string) []string {
	var docs []string
	var cur []string
	flush := func() {
		doc := strings.Join(cur, "\n")
		if hasContent(doc) {
			docs = append(docs, doc)
		}
		cur = nil
	}
	for _, line := range strings.Split(text, "\n") {
		if line == "---" || strings.HasPrefix(line, "--- ") {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}
