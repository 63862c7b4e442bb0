// chartcheck renders lockstep's Helm chart with Helm's template engine and checks the result:
// every document parses as the Kubernetes kind it claims, cross-references hold (selectors,
// ports, Secrets, RBAC), the alert rules and every dashboard expression pass promtool, and the
// values are documented. Each subcommand exits non-zero with the reasons on failure.
//
//	chartcheck render    --chart DIR [-f values.yaml]... [--strict]        # print the manifests
//	chartcheck check     --chart DIR [-f values.yaml]... [--promtool P --workdir D]
//	chartcheck fail      --chart DIR -f bad.yaml --expect "message"       # must fail with it
//	chartcheck rules     --chart DIR --plain FILE [--docs operations.md] --promtool P --workdir D
//	chartcheck dashboard --file JSON --promtool P --workdir D [--emit exprs.json]
//	chartcheck values    --chart DIR [--readme README.md]                 # docs of every value
//	chartcheck examples  --chart DIR --dir examples/mangopress            # manifests fit the chart
//	chartcheck configs   --chart DIR [-f values.yaml]... --dir OUT        # the programs' config files
//	chartcheck dockerfile --chart DIR --file Dockerfile --presets CMakePresets.json
//	                      --build-dir DIR --binary NAME=PATH...           # the image fits chart and build
//	chartcheck links     --root DIR FILE.md...                            # relative links resolve
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

type common struct {
	chart       string
	values      valueFiles
	strict      bool
	release     string
	namespace   string
	apiVersions valueFiles
	promtool    string
	workdir     string
	emit        string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.chart, "chart", "", "chart directory")
	fs.Var(&c.values, "f", "values file (repeatable, later wins)")
	fs.BoolVar(&c.strict, "strict", false, "missing map keys are errors (helm lint --strict)")
	fs.StringVar(&c.release, "release", "lockstep", "release name")
	fs.StringVar(&c.namespace, "namespace", "lockstep-system", "release namespace")
	fs.Var(&c.apiVersions, "api-versions", "extra API group/version available (repeatable)")
	fs.StringVar(&c.promtool, "promtool", "", "promtool binary (enables rule checks)")
	fs.StringVar(&c.workdir, "workdir", "", "scratch directory for generated files")
	fs.StringVar(&c.emit, "emit", "", "dashboard: write every panel expression (variables resolved) to this JSON file")
}

// render loads the chart, coalesces values and renders it.
func (c *common) render(strict bool) (*Chart, map[string]interface{}, []Rendered, error) {
	if c.chart == "" {
		return nil, nil, nil, fmt.Errorf("--chart is required")
	}
	ch, err := LoadChart(c.chart)
	if err != nil {
		return nil, nil, nil, err
	}
	var files []map[string]interface{}
	for _, f := range c.values {
		v, err := ReadValuesFile(f)
		if err != nil {
			return nil, nil, nil, err
		}
		files = append(files, v)
	}
	vals := CoalesceValues(ch.Defaults, MergeUserValues(files...))
	out, err := Render(ch, vals, RenderOptions{
		Release:     Release{Name: c.release, Namespace: c.namespace},
		APIVersions: c.apiVersions,
		Strict:      strict,
	})
	return ch, vals, out, err
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chartcheck render|check|fail|rules|dashboard|values|examples|configs|dockerfile|links [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var c common
	c.register(fs)
	var expect, plain, file, readme, docs, dir string
	fs.StringVar(&expect, "expect", "", "fail: the error must contain this text")
	fs.StringVar(&plain, "plain", "", "rules: the plain rules file that must equal the chart's PrometheusRule")
	fs.StringVar(&file, "file", "", "dashboard: the dashboard JSON; dockerfile: the Dockerfile")
	fs.StringVar(&readme, "readme", "", "values: README whose values table must match values.yaml")
	fs.StringVar(&docs, "docs", "", "rules: docs/operations.md, whose headings the runbook anchors must name")
	fs.StringVar(&dir, "dir", "", "examples: the folder of example manifests; configs: where to write them")
	docker := DockerInputs{Binaries: binaryFlags{}}
	fs.StringVar(&docker.Presets, "presets", "", "dockerfile: CMakePresets.json, whose preset the build stage must use")
	fs.StringVar(&docker.BuildDir, "build-dir", "", "dockerfile: the CMake build directory of the --binary files")
	fs.Var(docker.Binaries, "binary", "dockerfile: program=built target file (repeatable)")
	var root string
	fs.StringVar(&root, "root", "", "links: the repository root no link may leave")
	_ = fs.Parse(args)

	var problems []string
	switch cmd {
	case "render":
		_, _, out, err := c.render(c.strict)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, r := range out {
			fmt.Printf("---\n# Source: %s\n%s\n", r.Template, strings.TrimRight(r.Text, "\n"))
		}
		return
	case "check":
		problems = runCheck(&c)
	case "fail":
		problems = runExpectFailure(&c, expect)
	case "rules":
		problems = runRules(&c, plain, docs)
	case "dashboard":
		problems = runDashboard(&c, file)
	case "values":
		problems = runValuesDoc(&c, readme)
	case "examples":
		problems = runExamples(&c, dir)
	case "configs":
		problems = runConfigs(&c, dir)
	case "links":
		problems = runLinks(root, fs.Args())
	case "dockerfile":
		docker.Dockerfile = file
		problems = runDockerfile(&c, docker)
	default:
		fmt.Fprintf(os.Stderr, "unknown subcommand %q\n", cmd)
		os.Exit(2)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "FAIL:", p)
		}
		os.Exit(1)
	}
	fmt.Println("ok")
}
