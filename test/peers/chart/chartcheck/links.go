// Link check of the Markdown documentation: every relative link and image in the given files
// resolves to a file or folder of the repository, and a `#fragment` names a heading of the
// target Markdown file (GitHub's anchor rules). Web links are not fetched (no network here).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	mdLink    = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	mdRefDef  = regexp.MustCompile(`^\s*\[[^\]]+\]:\s*(\S+)`)
	htmlSrc   = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	inlineCod = regexp.MustCompile("`[^`]*`")
	heading   = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N}\s_-]`)
	htmlAnch  = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
)

// githubSlug is the anchor GitHub gives a heading: lower case, punctuation dropped, spaces to
// hyphens.
func githubSlug(text string) string {
	text = strings.ReplaceAll(text, "`", "")
	text = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(text, "$1")
	s := slugDrop.ReplaceAllString(strings.ToLower(text), "")
	return strings.ReplaceAll(s, " ", "-")
}

// headingAnchors lists the anchors of a Markdown file (duplicates get -1, -2 ... as on GitHub).
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	count := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		for _, m := range htmlAnch.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := githubSlug(m[2])
		if n := count[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		count[slug]++
	}
	return anchors
}

// markdownLinks returns the link targets of a Markdown text outside code, with their lines.
func markdownLinks(text string) [][2]string {
	var out [][2]string
	fence := false
	for i, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		line = inlineCod.ReplaceAllString(line, "")
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			out = append(out, [2]string{fmt.Sprint(i + 1), m[1]})
		}
		if m := mdRefDef.FindStringSubmatch(line); m != nil {
			out = append(out, [2]string{fmt.Sprint(i + 1), m[1]})
		}
		for _, m := range htmlSrc.FindAllStringSubmatch(line, -1) {
			out = append(out, [2]string{fmt.Sprint(i + 1), m[1]})
		}
	}
	return out
}

func runLinks(root string, files []string) []string {
	var p []string
	if len(files) == 0 {
		return []string{"links: no files given"}
	}
	checked := 0
	anchorCache := map[string]map[string]bool{}
	anchorsOf := func(file string) (map[string]bool, error) {
		if a, ok := anchorCache[file]; ok {
			return a, nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		a := headingAnchors(string(b))
		anchorCache[file] = a
		return a, nil
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			p = append(p, err.Error())
			continue
		}
		rel, _ := filepath.Rel(root, f)
		for _, l := range markdownLinks(string(b)) {
			target := l[1]
			where := rel + ":" + l[0]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, frag := target, ""
			if i := strings.Index(target, "#"); i >= 0 {
				file, frag = target[:i], target[i+1:]
			}
			resolved := f
			if file != "" {
				if strings.HasPrefix(file, "/") {
					p = append(p, fmt.Sprintf("%s: %q is absolute; use a path relative to the file", where, target))
					continue
				}
				resolved = filepath.Join(filepath.Dir(f), file)
				info, err := os.Stat(resolved)
				if err != nil {
					p = append(p, fmt.Sprintf("%s: %q does not exist (%s)", where, target, resolved))
					continue
				}
				if r, err := filepath.Rel(root, resolved); err != nil || strings.HasPrefix(r, "..") {
					p = append(p, fmt.Sprintf("%s: %q leaves the repository", where, target))
					continue
				}
				if info.IsDir() && frag != "" {
					p = append(p, fmt.Sprintf("%s: %q: a fragment on a folder", where, target))
					continue
				}
			}
			if frag != "" && strings.HasSuffix(resolved, ".md") {
				a, err := anchorsOf(resolved)
				if err != nil {
					p = append(p, fmt.Sprintf("%s: %v", where, err))
				} else if !a[frag] {
					p = append(p, fmt.Sprintf("%s: %q: no heading with anchor #%s in %s", where, target, frag, filepath.Base(resolved)))
				}
			}
		}
	}
	fmt.Printf("checked %d relative links in %d files\n", checked, len(files))
	return p
}
