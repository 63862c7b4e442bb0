// Helm validates the coalesced values against the chart's values.schema.json (JSON Schema) before
// rendering, on install, upgrade, template and lint, and refuses values that do not conform.
// This is the subset of JSON Schema draft 7 that lockstep's schema uses: type (one or a list),
// properties, additionalProperties (false or a schema), items, enum, const, minimum, maximum,
// exclusiveMinimum, minLength, pattern, required and $ref to "#/definitions/...".
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	SchemaURI            string             `json:"$schema,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 schemaTypes        `json:"type,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	AdditionalProperties *additional        `json:"additionalProperties,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	Enum                 []interface{}      `json:"enum,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	ExclusiveMinimum     *float64           `json:"exclusiveMinimum,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Definitions          map[string]*Schema `json:"definitions,omitempty"`
}

// schemaTypes accepts "type": "string" and "type": ["string", "null"].
type schemaTypes []string

func (t *schemaTypes) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("type must be a string or a list of strings")
	}
	*t = many
	return nil
}

// additional is `false`, `true` or a schema.
type additional struct {
	Allowed bool
	Schema  *Schema
}

func (a *additional) UnmarshalJSON(b []byte) error {
	var flag bool
	if err := json.Unmarshal(b, &flag); err == nil {
		a.Allowed = flag
		return nil
	}
	a.Allowed = true
	a.Schema = &Schema{}
	return json.Unmarshal(b, a.Schema)
}

// LoadSchema reads values.schema.json strictly (an unknown keyword is an error here, so a keyword
// this validator does not implement cannot be silently ignored).
func LoadSchema(chartDir string) (*Schema, error) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var s Schema
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("values.schema.json: %w", err)
	}
	return &s, nil
}

// ValidateValues returns one message per violation, "<path>: <reason>", sorted.
func ValidateValues(root *Schema, values map[string]interface{}) []string {
	var errs []string
	validate(root, root, "", values, &errs)
	sort.Strings(errs)
	return errs
}

func jsonType(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if t == math.Trunc(t) {
			return "integer"
		}
		return "number"
	case int, int64:
		return "integer"
	case map[string]interface{}:
		return "object"
	case []interface{}:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

func validate(root, s *Schema, path string, v interface{}, errs *[]string) {
	at := path
	if at == "" {
		at = "(root)"
	}
	fail := func(format string, a ...interface{}) { *errs = append(*errs, at+": "+fmt.Sprintf(format, a...)) }
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/definitions/")
		def, ok := root.Definitions[name]
		if !ok {
			fail("schema error: unresolvable $ref %q", s.Ref)
			return
		}
		validate(root, def, path, v, errs)
		return
	}
	got := jsonType(v)
	if len(s.Type) > 0 {
		ok := false
		for _, t := range s.Type {
			ok = ok || t == got || (t == "number" && got == "integer")
		}
		if !ok {
			fail("Invalid type. Expected: %s, given: %s", strings.Join(s.Type, " or "), got)
			return
		}
	}
	if len(s.Enum) > 0 {
		ok := false
		for _, e := range s.Enum {
			ok = ok || fmt.Sprint(e) == fmt.Sprint(v) && jsonType(e) == got
		}
		if !ok {
			var opts []string
			for _, e := range s.Enum {
				b, _ := json.Marshal(e)
				opts = append(opts, string(b))
			}
			fail("must be one of %s", strings.Join(opts, ", "))
		}
	}
	switch t := v.(type) {
	case float64:
		if s.Minimum != nil && t < *s.Minimum {
			fail("Must be greater than or equal to %v", *s.Minimum)
		}
		if s.Maximum != nil && t > *s.Maximum {
			fail("Must be less than or equal to %v", *s.Maximum)
		}
		if s.ExclusiveMinimum != nil && t <= *s.ExclusiveMinimum {
			fail("Must be greater than %v", *s.ExclusiveMinimum)
		}
	case string:
		if s.MinLength != nil && len(t) < *s.MinLength {
			fail("String length must be greater than or equal to %d", *s.MinLength)
		}
		if s.Pattern != "" {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				fail("schema error: pattern %q: %v", s.Pattern, err)
			} else if !re.MatchString(t) {
				fail("Does not match pattern '%s'", s.Pattern)
			}
		}
	case []interface{}:
		if s.Items != nil {
			for i, item := range t {
				validate(root, s.Items, fmt.Sprintf("%s.%d", path, i), item, errs)
			}
		}
	case map[string]interface{}:
		for _, r := range s.Required {
			if _, ok := t[r]; !ok {
				fail("%s is required", r)
			}
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := k
			if path != "" {
				child = path + "." + k
			}
			if ps, ok := s.Properties[k]; ok {
				validate(root, ps, child, t[k], errs)
				continue
			}
			if s.AdditionalProperties != nil {
				if !s.AdditionalProperties.Allowed {
					fail("Additional property %s is not allowed", k)
				} else if s.AdditionalProperties.Schema != nil {
					validate(root, s.AdditionalProperties.Schema, child, t[k], errs)
				}
			}
		}
	}
}
