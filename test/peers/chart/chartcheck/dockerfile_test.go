package main

import (
	"os"
	"strings"
	"testing"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(chartDir() + "/../../" + rel)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerProblems checks the repository's Dockerfile with `old` replaced by `new` (once) against
// the default chart, without built binaries.
func dockerProblems(t *testing.T, old, new string) []string {
	t.Helper()
	text := repoFile(t, "Dockerfile")
	if old != "" {
		if !strings.Contains(text, old) {
			t.Fatalf("the Dockerfile does not contain %q", old)
		}
		text = strings.Replace(text, old, new, 1)
	}
	c := &common{chart: chartDir(), release: "lockstep", namespace: "lockstep-system"}
	return runDockerfile(c, DockerInputs{Text: text, Presets: chartDir() + "/../../CMakePresets.json",
		Skip: map[string]bool{"libraries": true}})
}

func TestDockerfileFitsTheChart(t *testing.T) {
	if p := dockerProblems(t, "", ""); len(p) > 0 {
		t.Fatalf("problems:\n%s", strings.Join(p, "\n"))
	}
}

func TestDockerfileChecksCatchMistakes(t *testing.T) {
	expectProblem(t, dockerProblems(t, "USER 65532:65532", "USER 1000"), "runAsUser 65532, the image's USER is 1000")
	expectProblem(t, dockerProblems(t, "USER 65532:65532", "USER nobody"), "must be numeric")
	expectProblem(t, dockerProblems(t, "/usr/local/bin/lockstep-proxy\n", "/usr/bin/lockstep-proxy\n"),
		"nothing is copied to /usr/local/bin/lockstep-proxy")
	expectProblem(t, dockerProblems(t, "FROM debian:12-slim AS runtime", "FROM alpine:3.18 AS runtime"), "is not Debian 12")
	expectProblem(t, dockerProblems(t, "--preset default", "--preset release"), `preset "release" is not in CMakePresets.json`)
	expectProblem(t, dockerProblems(t, "RUN /src/scripts/bootstrap", "RUN true"), "without running scripts/bootstrap")
	expectProblem(t, dockerProblems(t, " lockstep-rollouts-plugin \\", " \\"), "does not build the target lockstep-rollouts-plugin")
	expectProblem(t, dockerProblems(t, "EXPOSE 9090 ", "EXPOSE "), "(9090) is not EXPOSEd")
	expectProblem(t, dockerProblems(t, "COPY --from=build", "COPY --from=builder"), "names no earlier stage")
	if p, _ := ParseDockerfile("FROM debian:12\nRUN a \\\n"); len(p) != 1 {
		t.Fatalf("want one stage, got %d", len(p))
	}
	if _, p := ParseDockerfile("FROM debian:12\nFROBNICATE x\n"); len(p) != 1 || !strings.Contains(p[0], "unknown instruction") {
		t.Fatalf("unknown instruction not reported: %v", p)
	}
	if got := aptInstalled("apt-get update && apt-get install -y --no-install-recommends a b=1.2 c && rm x"); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("aptInstalled: %v", got)
	}
}

func TestLinkCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := dir + "/" + name
		_ = os.MkdirAll(p[:strings.LastIndex(p, "/")], 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("docs/a.md", "# Title\n\n## Troubleshooting by symptom\n\n## The `--flag` option\n\n## Dup\n\n## Dup\n")
	write("docs/img/x.png", "png")
	good := write("README.md", "[a](docs/a.md), [t](docs/a.md#troubleshooting-by-symptom) ![x](docs/img/x.png)\n"+
		"[f](docs/a.md#the---flag-option) [d](docs/a.md#dup-1) [web](https://example.com/nothing) [self](#top)\n"+
		"<a name=\"top\"></a>\n```\n[not a link](missing.md)\n```\n`[code](missing.md)`\n[folder](docs/)\n")
	if p := runLinks(dir, []string{good}); len(p) > 0 {
		t.Fatalf("problems:\n%s", strings.Join(p, "\n"))
	}
	bad := write("docs/b.md", "[m](missing.md) [h](a.md#no-such-heading) [u](../../outside.md) [i](img/y.png) [abs](/docs/a.md)\n")
	p := runLinks(dir, []string{bad})
	if len(p) != 5 {
		t.Fatalf("want 5 problems, got:\n%s", strings.Join(p, "\n"))
	}
	expectProblem(t, p, `"missing.md" does not exist`)
	expectProblem(t, p, "no heading with anchor #no-such-heading")
}
