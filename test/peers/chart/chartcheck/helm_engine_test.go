package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart creates a throwaway chart from name -> content.
func writeChart(t *testing.T, files map[string]string) *Chart {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["Chart.yaml"]; !ok {
		files["Chart.yaml"] = "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n"
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func renderOne(t *testing.T, c *Chart, user map[string]interface{}, strict bool) (string, error) {
	t.Helper()
	out, err := Render(c, CoalesceValues(c.Defaults, user), RenderOptions{
		Release: Release{Name: "rel", Namespace: "ns"}, Strict: strict})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range out {
		b.WriteString(r.Text)
	}
	return b.String(), nil
}

func TestBuiltInObjects(t *testing.T) {
	c := writeChart(t, map[string]string{
		"templates/a.yaml": `{{ .Release.Name }} {{ .Release.Namespace }} {{ .Release.Service }} {{ .Release.IsInstall }} {{ .Release.Revision }}
{{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.AppVersion }}
{{ .Template.Name }} {{ .Template.BasePath }}
{{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }} {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}`,
	})
	got, err := renderOne(t, c, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "rel ns Helm true 1\ndemo 1.2.3 4.5\ndemo/templates/a.yaml demo/templates\n1.29 true false"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPartialsAreNotRenderedButIncludable(t *testing.T) {
	c := writeChart(t, map[string]string{
		"templates/_h.tpl":  `{{- define "demo.labels" -}}a: "1"` + "\n" + `b: {{ .x }}{{- end -}}`,
		"templates/a.yaml":  `labels:{{ include "demo.labels" (dict "x" 2) | nindent 2 }}`,
		"templates/_x.yaml": `this is a partial too`,
	})
	out, err := Render(c, c.Defaults, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Text != "labels:\n  a: \"1\"\n  b: 2" {
		t.Fatalf("got %+v", out)
	}
}

func TestToYamlTrimsTheFinalNewlineAndSortsKeys(t *testing.T) {
	c := writeChart(t, map[string]string{
		"values.yaml":      "m: {z: 1, a: [p, q]}\n",
		"templates/a.yaml": `{{ toYaml .Values.m }}|{{ toJson .Values.m }}`,
	})
	got, err := renderOne(t, c, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got != "a:\n- p\n- q\nz: 1|{\"a\":[\"p\",\"q\"],\"z\":1}" {
		t.Fatalf("got %q", got)
	}
}

func TestNumbersAreFloat64AsInHelm(t *testing.T) {
	// Helm reads values through JSON, so a large integer prints in exponent form unless the
	// template converts it; charts must use `int`. The engine has to reproduce that.
	c := writeChart(t, map[string]string{
		"values.yaml":      "big: 1000000\n",
		"templates/a.yaml": `{{ .Values.big }} {{ int .Values.big }} {{ kindOf .Values.big }}`,
	})
	got, err := renderOne(t, c, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got != "1e+06 1000000 float64" {
		t.Fatalf("got %q", got)
	}
}

func TestRequired(t *testing.T) {
	c := writeChart(t, map[string]string{
		"values.yaml":      "a: \"\"\nb: 0\nc: false\n",
		"templates/a.yaml": `{{ required "b is needed" .Values.b }} {{ required "c is needed" .Values.c }}`,
		"templates/b.yaml": `{{ required "a is needed" .Values.a }}`,
	})
	_, err := renderOne(t, c, nil, false)
	if err == nil || !strings.Contains(err.Error(), "a is needed") {
		t.Fatalf("empty string must fail required, got %v", err)
	}
	got, err := renderOne(t, c, map[string]interface{}{"a": "x"}, false)
	if err != nil || got != "0 falsex" {
		t.Fatalf("0 and false pass required: got %q, %v", got, err)
	}
}

func TestFailStopsTheRender(t *testing.T) {
	c := writeChart(t, map[string]string{"templates/a.yaml": `{{ fail "nope: x must be y" }}`})
	if _, err := renderOne(t, c, nil, false); err == nil || !strings.Contains(err.Error(), "nope: x must be y") {
		t.Fatalf("got %v", err)
	}
}

func TestTplSeesValuesAndPartials(t *testing.T) {
	c := writeChart(t, map[string]string{
		"values.yaml":      "greeting: 'hello {{ .Values.who }} from {{ include \"demo.n\" . }}'\nwho: world\n",
		"templates/_h.tpl": `{{- define "demo.n" -}}{{ .Release.Name }}{{- end -}}`,
		"templates/a.yaml": `{{ tpl .Values.greeting . }}`,
	})
	got, err := renderOne(t, c, nil, true)
	if err != nil || got != "hello world from rel" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestMissingKeys(t *testing.T) {
	c := writeChart(t, map[string]string{
		"values.yaml":      "a: {}\n",
		"templates/a.yaml": `[{{ .Values.a.missing }}]`,
	})
	got, err := renderOne(t, c, nil, false)
	if err != nil || got != "[]" {
		t.Fatalf("non-strict renders a missing key as empty (no <no value>): got %q, %v", got, err)
	}
	if _, err := renderOne(t, c, nil, true); err == nil {
		t.Fatal("strict mode must fail on a missing key")
	}
}

func TestEnvFunctionsAreRemoved(t *testing.T) {
	c := writeChart(t, map[string]string{"templates/a.yaml": `{{ env "HOME" }}`})
	if _, err := renderOne(t, c, nil, false); err == nil || !strings.Contains(err.Error(), `"env" not defined`) {
		t.Fatalf("env must not exist, got %v", err)
	}
	c = writeChart(t, map[string]string{"templates/a.yaml": `{{ expandenv "$HOME" }}`})
	if _, err := renderOne(t, c, nil, false); err == nil {
		t.Fatal("expandenv must not exist")
	}
}

func TestLookupFindsNothingAndFromYamlReportsErrors(t *testing.T) {
	c := writeChart(t, map[string]string{
		"templates/a.yaml": `{{ len (lookup "v1" "Secret" "ns" "x") }} {{ hasKey (fromYaml "a: [") "Error" }} {{ (fromYaml "a: 1").a }}`,
	})
	got, err := renderOne(t, c, nil, true)
	if err != nil || got != "0 true 1" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestCoalesce(t *testing.T) {
	defaults := map[string]interface{}{
		"keep": "d", "drop": "d", "list": []interface{}{"a", "b"},
		"m": map[string]interface{}{"x": 1.0, "y": 2.0},
	}
	user := MergeUserValues(
		map[string]interface{}{"m": map[string]interface{}{"x": 10.0}, "list": []interface{}{"c"}},
		map[string]interface{}{"drop": nil, "m": map[string]interface{}{"z": 3.0}},
	)
	got := CoalesceValues(defaults, user)
	if _, ok := got["drop"]; ok {
		t.Fatal("a user null must delete the default")
	}
	m := got["m"].(map[string]interface{})
	if got["keep"] != "d" || m["x"] != 10.0 || m["y"] != 2.0 || m["z"] != 3.0 {
		t.Fatalf("maps merge, user wins: %v", got)
	}
	if l := got["list"].([]interface{}); len(l) != 1 || l[0] != "c" {
		t.Fatalf("lists are replaced, not merged: %v", l)
	}
	if defaults["m"].(map[string]interface{})["x"] != 1.0 {
		t.Fatal("coalescing must not modify the chart's defaults")
	}
}

func TestFiles(t *testing.T) {
	c := writeChart(t, map[string]string{
		"files/a.txt":      "A\nB\n",
		"files/sub/b.json": "{}",
		"notes.swp":        "ignored",
		".helmignore":      "*.swp\n",
		"templates/a.yaml": `{{ .Files.Get "files/a.txt" | trim }}|{{ len (.Files.Glob "files/**") }}|{{ len (.Files.Glob "files/*.txt") }}|{{ .Files.Get "missing" }}|{{ .Files.Get "notes.swp" }}|{{ len (.Files.Lines "files/a.txt") }}
{{ (.Files.Glob "files/*.txt").AsConfig }}`,
	})
	got, err := renderOne(t, c, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got != "A\nB|2|1|||2\na.txt: |\n  A\n  B" {
		t.Fatalf("got %q", got)
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := SplitDocuments("# only a comment\n---\na: 1\n---\n\n---\nb: 2\n# tail\n")
	if len(docs) != 2 || !strings.HasPrefix(docs[0], "a: 1") || !strings.HasPrefix(docs[1], "b: 2") {
		t.Fatalf("got %q", docs)
	}
}
