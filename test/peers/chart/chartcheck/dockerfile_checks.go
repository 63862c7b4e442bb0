// Checks on the top-level Dockerfile without a Docker engine (none runs here): it parses the way
// Docker's frontend reads a Dockerfile (instructions, line continuations, comments, stages), and
// cross-checks it against what the image must be for the chart and the build:
//   - multi-stage, every stage on Debian 12; the build stage runs scripts/bootstrap and a CMake
//     preset that exists, and builds the three programs' targets;
//   - the runtime stage copies each program from where CMake puts it (the target file's path
//     relative to the build directory, passed in from CMake) to /usr/local/bin/<name>, the
//     paths the chart's containers and the plugin's init container run;
//   - the runtime user is numeric, not root, and the chart's runAsUser; the chart's container
//     ports are exposed;
//   - every shared library the built servers name in DT_NEEDED comes from a Debian package the
//     runtime stage installs (or the base image holds), and the plugin is a static executable.
package main

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Instruction is one Dockerfile instruction after joining continuation lines.
type Instruction struct {
	Line    int
	Keyword string // upper case
	Flags   map[string]string
	Args    string // the rest, continuations joined with a space
}

// Stage is one FROM ... [AS name] and the instructions that follow it.
type Stage struct {
	Index int
	Base  string
	Name  string
	Insts []Instruction
}

var dockerKeywords = map[string]bool{
	"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true, "ENV": true, "ADD": true,
	"COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true,
	"ONBUILD": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true, "MAINTAINER": true,
}

// ParseDockerfile reads instructions: `#` lines are comments (parser directives included), a
// trailing backslash continues the instruction on the next line, comment lines inside a
// continuation are skipped as Docker does.
func ParseDockerfile(text string) ([]Stage, []string) {
	var problems []string
	var insts []Instruction
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		start := i + 1
		full := line
		for strings.HasSuffix(full, "\\") {
			full = strings.TrimSuffix(full, "\\")
			i++
			for i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
				i++
			}
			if i >= len(lines) {
				problems = append(problems, fmt.Sprintf("line %d: continuation at the end of the file", start))
				break
			}
			full += " " + strings.TrimSpace(lines[i])
		}
		fields := strings.SplitN(full, " ", 2)
		kw := strings.ToUpper(fields[0])
		if !dockerKeywords[kw] {
			problems = append(problems, fmt.Sprintf("line %d: unknown instruction %q", start, fields[0]))
			continue
		}
		inst := Instruction{Line: start, Keyword: kw, Flags: map[string]string{}}
		rest := ""
		if len(fields) == 2 {
			rest = strings.TrimSpace(fields[1])
		}
		// Leading --flag=value options (COPY --from=, RUN --mount=, FROM --platform=).
		for strings.HasPrefix(rest, "--") {
			sp := strings.IndexAny(rest, " \t")
			flag := rest
			if sp >= 0 {
				flag, rest = rest[:sp], strings.TrimSpace(rest[sp:])
			} else {
				rest = ""
			}
			kv := strings.SplitN(strings.TrimPrefix(flag, "--"), "=", 2)
			if len(kv) == 2 {
				inst.Flags[kv[0]] = kv[1]
			} else {
				inst.Flags[kv[0]] = ""
			}
		}
		inst.Args = rest
		if inst.Args == "" {
			problems = append(problems, fmt.Sprintf("line %d: %s without arguments", start, kw))
		}
		if (kw == "CMD" || kw == "ENTRYPOINT" || kw == "SHELL") && strings.HasPrefix(inst.Args, "[") {
			var v []string
			if err := json.Unmarshal([]byte(inst.Args), &v); err != nil {
				problems = append(problems, fmt.Sprintf("line %d: %s exec form is not a JSON array of strings: %v", start, kw, err))
			}
		}
		insts = append(insts, inst)
	}
	var stages []Stage
	for _, in := range insts {
		if in.Keyword == "FROM" {
			f := strings.Fields(in.Args)
			st := Stage{Index: len(stages), Base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			} else if len(f) != 1 {
				problems = append(problems, fmt.Sprintf("line %d: FROM must be `FROM image [AS name]`", in.Line))
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.Keyword != "ARG" {
				problems = append(problems, fmt.Sprintf("line %d: %s before the first FROM", in.Line, in.Keyword))
			}
			continue
		}
		stages[len(stages)-1].Insts = append(stages[len(stages)-1].Insts, in)
	}
	return stages, problems
}

var debian12 = regexp.MustCompile(`^(docker\.io/)?(library/)?debian:(12|bookworm)(\.[0-9]+)?(-slim)?(-[0-9]{8})?(@sha256:[0-9a-f]{64})?$`)

// aptInstalled returns the packages named after `apt-get install` in a RUN command.
func aptInstalled(run string) []string {
	var pkgs []string
	words := strings.Fields(run)
	for i := 0; i+1 < len(words); i++ {
		if (words[i] != "apt-get" && words[i] != "apt") || words[i+1] != "install" {
			continue
		}
		for _, w := range words[i+2:] {
			if w == "&&" || w == ";" || w == "|" || w == "||" || strings.HasSuffix(w, ";") {
				break
			}
			if strings.HasPrefix(w, "-") {
				continue
			}
			pkgs = append(pkgs, strings.SplitN(w, "=", 2)[0])
		}
	}
	return pkgs
}

// Packages of a debian:12-slim image that lockstep's binaries link against.
var debianSlimBase = map[string]bool{"libc6": true, "libstdc++6": true, "libgcc-s1": true}

// packageOfLibrary resolves a DT_NEEDED name through ldd to a file, and the file to the Debian
// package that ships it (dpkg records paths with or without the /usr prefix, before or after
// symlinks, so each spelling is tried).
func packageOfLibrary(lddOut map[string]string, lib string) (string, error) {
	p, ok := lddOut[lib]
	if !ok {
		return "", fmt.Errorf("ldd does not resolve %s", lib)
	}
	candidates := []string{p}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		candidates = append(candidates, real)
	}
	for _, c := range append([]string(nil), candidates...) {
		if strings.HasPrefix(c, "/usr/") {
			candidates = append(candidates, strings.TrimPrefix(c, "/usr"))
		} else {
			candidates = append(candidates, "/usr"+c)
		}
	}
	for _, c := range candidates {
		out, err := exec.Command("dpkg-query", "-S", c).Output()
		if err != nil {
			continue
		}
		first := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
		pkg := strings.SplitN(first, ":", 2)[0]
		return pkg, nil
	}
	return "", fmt.Errorf("no Debian package owns %s (%s)", lib, p)
}

func lddMap(bin string) (map[string]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v", bin, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/") {
			m[f[0]] = f[2]
		}
	}
	return m, nil
}

// binaryFlags is --binary name=path, repeatable: the program and its CMake target file.
type binaryFlags map[string]string

func (b binaryFlags) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binaryFlags) Set(s string) error {
	kv := strings.SplitN(s, "=", 2)
	if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
		return fmt.Errorf("--binary wants name=path, got %q", s)
	}
	b[kv[0]] = kv[1]
	return nil
}

var imagePrograms = []string{"lockstep-scaler", "lockstep-proxy", "lockstep-rollouts-plugin"}

// DockerInputs is what runDockerfile cross-checks the Dockerfile against.
type DockerInputs struct {
	Dockerfile string
	Presets    string            // CMakePresets.json
	BuildDir   string            // the CMake binary directory the target files live in
	Binaries   binaryFlags       // program -> built target file (enables the path and library checks)
	Text       string            // the Dockerfile's text when already read (tests)
	Skip       map[string]bool   // "libraries": skip the DT_NEEDED checks
}

func runDockerfile(c *common, in DockerInputs) []string {
	text := in.Text
	if text == "" {
		b, err := os.ReadFile(in.Dockerfile)
		if err != nil {
			return []string{err.Error()}
		}
		text = string(b)
	}
	stages, p := ParseDockerfile(text)
	if len(stages) < 2 {
		return append(p, fmt.Sprintf("want a multi-stage build (a build stage and a runtime stage), got %d stage(s)", len(stages)))
	}
	for _, s := range stages {
		if !debian12.MatchString(s.Base) {
			p = append(p, fmt.Sprintf("stage %d (%s): base image %q is not Debian 12 (debian:12, debian:12-slim, bookworm)", s.Index, s.Name, s.Base))
		}
	}
	runtime := stages[len(stages)-1]
	if !strings.Contains(runtime.Base, "slim") {
		p = append(p, fmt.Sprintf("runtime stage: base %q: use debian:12-slim", runtime.Base))
	}

	// The build stage: bootstrap, a preset that exists, the three targets.
	presetNames := map[string]bool{}
	if in.Presets != "" {
		var presets struct {
			ConfigurePresets []struct {
				Name string `json:"name"`
			} `json:"configurePresets"`
		}
		b, err := os.ReadFile(in.Presets)
		if err == nil {
			err = json.Unmarshal(b, &presets)
		}
		if err != nil {
			p = append(p, "CMakePresets.json: "+err.Error())
		}
		for _, cp := range presets.ConfigurePresets {
			presetNames[cp.Name] = true
		}
	}
	stageByRef := map[string]*Stage{}
	for i := range stages {
		stageByRef[strconv.Itoa(i)] = &stages[i]
		if stages[i].Name != "" {
			stageByRef[stages[i].Name] = &stages[i]
		}
	}
	type buildInfo struct {
		workdir, dir string
		targets      map[string]bool
		bootstrap    bool
	}
	builds := map[*Stage]*buildInfo{}
	presetRe := regexp.MustCompile(`cmake\s+--preset[ =](\S+)`)
	buildDirRe := regexp.MustCompile(`-B\s*(\S+)`)
	targetRe := regexp.MustCompile(`--target((?:\s+[A-Za-z0-9_.+-]+)+)`)
	for i := range stages[:len(stages)-1] {
		s := &stages[i]
		bi := &buildInfo{workdir: "/", targets: map[string]bool{}}
		for _, inst := range s.Insts {
			switch inst.Keyword {
			case "WORKDIR":
				bi.workdir = path.Join(bi.workdir, inst.Args)
			case "RUN":
				if strings.Contains(inst.Args, "scripts/bootstrap") {
					bi.bootstrap = true
				}
				if m := presetRe.FindStringSubmatch(inst.Args); m != nil {
					if len(presetNames) > 0 && !presetNames[m[1]] {
						p = append(p, fmt.Sprintf("line %d: CMake preset %q is not in CMakePresets.json", inst.Line, m[1]))
					}
					if d := buildDirRe.FindStringSubmatch(inst.Args[strings.Index(inst.Args, m[0]):]); d != nil {
						bi.dir = path.Join(bi.workdir, d[1])
					} else {
						p = append(p, fmt.Sprintf("line %d: cmake --preset without -B: the build directory would be the preset's", inst.Line))
					}
					for _, mod := range []string{"aggregator", "scaler", "rollout", "plugin", "proxy"} {
						if strings.Contains(inst.Args, "LOCKSTEP_MODULES") && !regexp.MustCompile(`LOCKSTEP_MODULES="?[^" ]*\b`+mod+`\b`).MatchString(inst.Args) {
							p = append(p, fmt.Sprintf("line %d: LOCKSTEP_MODULES leaves out %q, which the image's programs need", inst.Line, mod))
						}
					}
				}
				for _, m := range targetRe.FindAllStringSubmatch(inst.Args, -1) {
					for _, t := range strings.Fields(m[1]) {
						bi.targets[t] = true
					}
				}
			}
		}
		if bi.dir != "" {
			builds[s] = bi
			if !bi.bootstrap {
				p = append(p, fmt.Sprintf("stage %q: builds without running scripts/bootstrap first", s.Name))
			}
			for _, prog := range imagePrograms {
				if !bi.targets[prog] {
					p = append(p, fmt.Sprintf("stage %q: does not build the target %s", s.Name, prog))
				}
			}
		}
	}
	if len(builds) == 0 {
		p = append(p, "no stage before the runtime stage runs `cmake --preset <name> -B <dir>`")
	}

	// The runtime stage: copies, user, ports, packages.
	provided := map[string]string{} // destination file -> source inside the build stage
	var installed []string
	user := ""
	exposed := map[int]bool{}
	for _, inst := range runtime.Insts {
		switch inst.Keyword {
		case "COPY":
			from := inst.Flags["from"]
			f := strings.Fields(inst.Args)
			if from == "" || len(f) != 2 {
				continue
			}
			src := stageByRef[from]
			if src == nil {
				p = append(p, fmt.Sprintf("line %d: COPY --from=%s names no earlier stage", inst.Line, from))
				continue
			}
			if builds[src] == nil {
				continue
			}
			provided[f[1]] = f[0]
			if strings.HasSuffix(f[1], "/") {
				provided[f[1]+path.Base(f[0])] = f[0]
			}
		case "RUN":
			installed = append(installed, aptInstalled(inst.Args)...)
		case "USER":
			user = inst.Args
		case "EXPOSE":
			for _, w := range strings.Fields(inst.Args) {
				n, err := strconv.Atoi(strings.TrimSuffix(w, "/tcp"))
				if err != nil {
					p = append(p, fmt.Sprintf("line %d: EXPOSE %q is not a port", inst.Line, w))
				}
				exposed[n] = true
			}
		case "ADD":
			p = append(p, fmt.Sprintf("line %d: use COPY, not ADD, in the runtime stage", inst.Line))
		}
	}
	var build *buildInfo
	for _, b := range builds {
		build = b
	}
	for _, prog := range imagePrograms {
		dst := "/usr/local/bin/" + prog
		src, ok := provided[dst]
		if !ok {
			p = append(p, fmt.Sprintf("runtime stage: nothing is copied to %s", dst))
			continue
		}
		target, known := in.Binaries[prog]
		if !known || build == nil || in.BuildDir == "" {
			continue
		}
		rel, err := filepath.Rel(in.BuildDir, target)
		if err != nil || strings.HasPrefix(rel, "..") {
			p = append(p, fmt.Sprintf("%s: target file %s is not under the build directory %s", prog, target, in.BuildDir))
			continue
		}
		want := path.Join(build.dir, filepath.ToSlash(rel))
		if src != want {
			p = append(p, fmt.Sprintf("%s: the runtime stage copies %s, but CMake builds the target at %s", prog, src, want))
		}
	}

	uid := int64(-1)
	if user == "" {
		p = append(p, "runtime stage: no USER: the image would run as root")
	} else {
		n, err := strconv.ParseInt(strings.SplitN(user, ":", 2)[0], 10, 64)
		switch {
		case err != nil:
			p = append(p, fmt.Sprintf("USER %q: must be numeric so that runAsNonRoot can verify it", user))
		case n == 0:
			p = append(p, "USER 0 is root")
		default:
			uid = n
		}
	}

	// The chart: what it runs must be in the image, as the user it declares.
	if c != nil && c.chart != "" {
		_, _, out, err := c.render(false)
		if err != nil {
			return append(p, "render: "+err.Error())
		}
		o, _ := Decode(out)
		var containers []struct {
			where string
			ps    PodSpec
			c     Container
		}
		for _, d := range o.Deployments {
			for _, ct := range d.Spec.Template.Spec.Containers {
				containers = append(containers, struct {
					where string
					ps    PodSpec
					c     Container
				}{"Deployment " + d.Metadata.Name + " container " + ct.Name, d.Spec.Template.Spec, ct})
			}
		}
		if len(containers) < 2 {
			p = append(p, fmt.Sprintf("the chart renders %d containers; expected the scaler's and the proxy's", len(containers)))
		}
		for _, ct := range containers {
			if len(ct.c.Command) == 0 {
				p = append(p, ct.where+": no command; the image's ENTRYPOINT is the scaler, so each container must name its program")
			} else if _, ok := provided[ct.c.Command[0]]; !ok {
				p = append(p, fmt.Sprintf("%s: runs %s, which the image does not provide", ct.where, ct.c.Command[0]))
			}
			runAs := int64(-1)
			if v, ok := ct.ps.SecurityContext["runAsUser"].(float64); ok {
				runAs = int64(v)
			}
			if ct.c.SecurityContext != nil && ct.c.SecurityContext.RunAsUser != nil {
				runAs = *ct.c.SecurityContext.RunAsUser
			}
			if runAs >= 0 && uid >= 0 && runAs != uid {
				p = append(p, fmt.Sprintf("%s: runAsUser %d, the image's USER is %d", ct.where, runAs, uid))
			}
			for _, port := range ct.c.Ports {
				if !exposed[int(port.ContainerPort)] {
					p = append(p, fmt.Sprintf("%s: port %s (%d) is not EXPOSEd by the image", ct.where, port.Name, port.ContainerPort))
				}
			}
		}
		// NOTES.txt tells users to add an init container that copies the plugin out of the image.
		cpRe := regexp.MustCompile(`command:\s*\[cp,\s*(\S+?),`)
		notesChecked := false
		for _, r := range out {
			if !strings.HasSuffix(r.Template, "NOTES.txt") {
				continue
			}
			for _, m := range cpRe.FindAllStringSubmatch(r.Text, -1) {
				notesChecked = true
				if _, ok := provided[m[1]]; !ok {
					p = append(p, fmt.Sprintf("NOTES.txt: the plugin init container copies %s, which the image does not provide", m[1]))
				}
			}
		}
		if !notesChecked {
			p = append(p, "NOTES.txt: no plugin init container (`command: [cp, <binary>, <dir>]`) found to check")
		}
	}

	// The built binaries: the servers' shared libraries come from installed packages; the plugin
	// is static.
	if !in.Skip["libraries"] {
		have := map[string]bool{}
		for _, pkg := range installed {
			have[pkg] = true
		}
		for _, prog := range imagePrograms {
			bin, ok := in.Binaries[prog]
			if !ok {
				continue
			}
			f, err := elf.Open(bin)
			if err != nil {
				p = append(p, fmt.Sprintf("%s: %v", prog, err))
				continue
			}
			needed, _ := f.ImportedLibraries()
			interp := false
			for _, prg := range f.Progs {
				if prg.Type == elf.PT_INTERP {
					interp = true
				}
			}
			f.Close()
			if prog == "lockstep-rollouts-plugin" {
				if interp || len(needed) > 0 {
					p = append(p, fmt.Sprintf("%s: must be a static executable (it runs in the Argo Rollouts controller's distroless image), needs %v", prog, needed))
				}
				continue
			}
			if len(needed) == 0 {
				p = append(p, fmt.Sprintf("%s: no DT_NEEDED entries; expected a dynamically linked server", prog))
				continue
			}
			lm, err := lddMap(bin)
			if err != nil {
				p = append(p, err.Error())
				continue
			}
			var missing []string
			for _, lib := range needed {
				pkg, err := packageOfLibrary(lm, lib)
				if err != nil {
					p = append(p, fmt.Sprintf("%s: %v", prog, err))
					continue
				}
				if !have[pkg] && !debianSlimBase[pkg] {
					missing = append(missing, fmt.Sprintf("%s (for %s)", pkg, lib))
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				p = append(p, fmt.Sprintf("%s: the runtime stage does not install %s", prog, strings.Join(missing, ", ")))
			}
		}
	}
	return p
}
