// Every value in values.yaml is documented: each key either carries a "# --" comment (then it is
// a row of the README's values table, maps included as a whole) or is a map whose keys do. The
// README's table between <!-- values:start --> and <!-- values:end --> must be exactly the table
// generated here, so the two cannot drift.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yaml3 "gopkg.in/yaml.v3"
)

type valueDoc struct {
	Key, Type, Default, Description string
}

func docComment(n *yaml3.Node) (string, bool) {
	var lines []string
	found := false
	for _, l := range strings.Split(n.HeadComment, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if strings.HasPrefix(l, "-- ") {
			found = true
			lines = []string{strings.TrimPrefix(l, "-- ")}
			continue
		}
		if found && l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " "), found
}

func walkValues(prefix string, n *yaml3.Node, out *[]valueDoc, problems *[]string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		desc, ok := docComment(k)
		if !ok {
			if v.Kind == yaml3.MappingNode && len(v.Content) > 0 {
				walkValues(key, v, out, problems)
				continue
			}
			*problems = append(*problems, fmt.Sprintf("values.yaml: %s has no \"# --\" description", key))
			continue
		}
		var val interface{}
		_ = v.Decode(&val)
		def, _ := json.Marshal(normalize(val))
		typ := "string"
		switch v.Kind {
		case yaml3.MappingNode:
			typ = "object"
		case yaml3.SequenceNode:
			typ = "list"
		case yaml3.ScalarNode:
			switch v.Tag {
			case "!!int":
				typ = "int"
			case "!!float":
				typ = "float"
			case "!!bool":
				typ = "bool"
			case "!!null":
				typ = "int or string"
			}
		}
		*out = append(*out, valueDoc{key, typ, string(def), desc})
	}
}

// normalize turns yaml.v3's map[string]interface{} trees into JSON-encodable ones.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = normalize(x)
		}
	case []interface{}:
		for i := range t {
			t[i] = normalize(t[i])
		}
	}
	return v
}

func valuesTable(chartDir string) (string, []string) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", []string{err.Error()}
	}
	var root yaml3.Node
	if err := yaml3.Unmarshal(data, &root); err != nil {
		return "", []string{"values.yaml: " + err.Error()}
	}
	var docs []valueDoc
	var problems []string
	if len(root.Content) == 1 && root.Content[0].Kind == yaml3.MappingNode {
		walkValues("", root.Content[0], &docs, &problems)
	} else {
		problems = append(problems, "values.yaml is not a mapping")
	}
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, d := range docs {
		def := strings.ReplaceAll(d.Default, "|", "\\|")
		desc := strings.ReplaceAll(d.Description, "|", "\\|")
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", d.Key, d.Type, def, desc)
	}
	return b.String(), problems
}

const tableStart, tableEnd = "<!-- values:start -->", "<!-- values:end -->"

func runValuesDoc(c *common, readme string) []string {
	table, problems := valuesTable(c.chart)
	if ch, err := LoadChart(c.chart); err != nil {
		problems = append(problems, err.Error())
	} else if ch.Schema == nil {
		problems = append(problems, "the chart has no values.schema.json")
	} else {
		problems = append(problems, schemaMatchesValues(ch.Schema, ch.Defaults, "")...)
		problems = append(problems, ValidateValues(ch.Schema, ch.Defaults)...)
	}
	if readme == "" {
		fmt.Print(table)
		return problems
	}
	data, err := os.ReadFile(readme)
	if err != nil {
		return append(problems, err.Error())
	}
	text := string(data)
	i, j := strings.Index(text, tableStart), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		return append(problems, fmt.Sprintf("%s: no %s ... %s section", readme, tableStart, tableEnd))
	}
	got := strings.TrimSpace(text[i+len(tableStart) : j])
	if got != strings.TrimSpace(table) {
		problems = append(problems, fmt.Sprintf("%s: the values table is out of date; regenerate it with\n  chartcheck values --chart %s\nand paste it between the markers. Expected:\n%s", readme, c.chart, table))
	}
	fmt.Printf("%d values documented\n", strings.Count(table, "\n")-2)
	return problems
}

// schemaMatchesValues: every key of values.yaml has a schema property and every schema property
// is a key of values.yaml, so the schema cannot lag behind or keep stale keys.
func schemaMatchesValues(s *Schema, defaults map[string]interface{}, path string) []string {
	var p []string
	for k, v := range defaults {
		child := k
		if path != "" {
			child = path + "." + k
		}
		ps, ok := s.Properties[k]
		if !ok {
			if s.AdditionalProperties == nil || !s.AdditionalProperties.Allowed {
				p = append(p, fmt.Sprintf("values.schema.json: %s is in values.yaml but not in the schema", child))
			}
			continue
		}
		if m, ok := v.(map[string]interface{}); ok && ps.Ref == "" && len(ps.Properties) > 0 {
			p = append(p, schemaMatchesValues(ps, m, child)...)
		}
	}
	for k := range s.Properties {
		if _, ok := defaults[k]; !ok {
			child := k
			if path != "" {
				child = path + "." + k
			}
			p = append(p, fmt.Sprintf("values.schema.json: %s is in the schema but not in values.yaml", child))
		}
	}
	return p
}
