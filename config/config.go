package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is a resolved configuration: one typed value per key of its
// schema. It is immutable and safe for concurrent use; getters return copies
// of list values.
//
// The typed getters (Int, Float, Bool, String, Ints, Floats, Strings) and
// Get panic when the key is not in the schema or, for typed getters, has
// another type: a wrong key in code is a programming error, not a user
// error. Use [Config.Lookup] to probe a key without panicking.
type Config struct {
	schema  *Schema
	values  map[string]any
	sources map[string]string
}

// Schema returns the schema the configuration was resolved against.
func (c *Config) Schema() *Schema { return c.schema }

// Keys returns every key, sorted.
func (c *Config) Keys() []string { return c.schema.Keys() }

// Lookup returns the value of key and whether the key exists.
func (c *Config) Lookup(key string) (any, bool) {
	v, ok := c.values[key]
	if !ok {
		return nil, false
	}
	return cloneValue(v), true
}

// Get returns the value of key with its Go type (int, float64, bool,
// string, []int, []float64 or []string). It panics on an unknown key.
func (c *Config) Get(key string) any {
	v, ok := c.Lookup(key)
	if !ok {
		panic(fmt.Sprintf("config: Get(%q): unknown key (keys: %s)", key, strings.Join(c.schema.keys, ", ")))
	}
	return v
}

// typed returns the value of key, panicking unless it has kind k.
func (c *Config) typed(getter, key string, k kind) any {
	e, ok := c.schema.entries[key]
	if !ok {
		hint := ""
		if s := suggest(key, c.schema.keys); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		panic(fmt.Sprintf("config: %s(%q): unknown key%s (keys: %s)", getter, key, hint, strings.Join(c.schema.keys, ", ")))
	}
	if e.kind != k {
		panic(fmt.Sprintf("config: %s(%q): key has type %s, not %s", getter, key, e.kind, k))
	}
	return cloneValue(c.values[key])
}

// Int returns the value of an int key.
func (c *Config) Int(key string) int { return c.typed("Int", key, kindInt).(int) }

// Float returns the value of a float64 key.
func (c *Config) Float(key string) float64 { return c.typed("Float", key, kindFloat).(float64) }

// Bool returns the value of a bool key.
func (c *Config) Bool(key string) bool { return c.typed("Bool", key, kindBool).(bool) }

// String returns the value of a string key.
func (c *Config) String(key string) string { return c.typed("String", key, kindString).(string) }

// Ints returns a copy of the value of a []int key.
func (c *Config) Ints(key string) []int { return c.typed("Ints", key, kindInts).([]int) }

// Floats returns a copy of the value of a []float64 key.
func (c *Config) Floats(key string) []float64 {
	return c.typed("Floats", key, kindFloats).([]float64)
}

// Strings returns a copy of the value of a []string key.
func (c *Config) Strings(key string) []string {
	return c.typed("Strings", key, kindStrings).([]string)
}

// Source reports where the value of key came from: "default", "preset",
// "file", "env" or "set" (the Source* constants); "" for an unknown key.
func (c *Config) Source(key string) string { return c.sources[key] }

// Hash returns a stable hash of the resolved values: the hex SHA-256 of
// one line per key, in key order, holding the key, its type and its value
// in a canonical text form. It depends on nothing else (not on sources or
// help texts), so equal configurations hash equally.
func (c *Config) Hash() string {
	h := sha256.New()
	for _, k := range c.schema.keys {
		fmt.Fprintf(h, "%s\t%s\t%s\n", k, c.schema.entries[k].kind.goType(), canonical(c.values[k]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonical renders a value in the text form Hash uses.
func canonical(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return strconv.Quote(x)
	case []int:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.Itoa(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case []float64:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.FormatFloat(e, 'g', -1, 64)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.Quote(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	panic(fmt.Sprintf("config: canonical(%T)", v))
}

// YAML renders the resolved configuration as a YAML document: keys nested
// by their dots, in sorted order, lists in flow style, each value followed
// by a comment with the key's help. The text depends only on the schema
// and the values (not on where they came from), so configurations with
// equal values render to identical bytes. Read back as [Sources.File]
// against the same schema it resolves to the same values.
func (c *Config) YAML() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range c.schema.keys {
		segs := strings.Split(k, ".")
		m := root
		for _, seg := range segs[:len(segs)-1] {
			m = childMapping(m, seg)
		}
		val, err := valueNode(c.values[k])
		if err != nil {
			return nil, fmt.Errorf("config: YAML of key %q: %w", k, err)
		}
		if help := c.schema.entries[k].param.Help; help != "" {
			val.LineComment = "# " + strings.Join(strings.Fields(help), " ")
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: segs[len(segs)-1]}, val)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("config: YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: YAML: %w", err)
	}
	return []byte(b.String()), nil
}

// childMapping returns the mapping under key seg of m, appending it when
// absent. Keys arrive sorted, so an existing child is always the last one.
func childMapping(m *yaml.Node, seg string) *yaml.Node {
	if n := len(m.Content); n >= 2 && m.Content[n-2].Value == seg && m.Content[n-1].Kind == yaml.MappingNode {
		return m.Content[n-1]
	}
	child := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}, child)
	return child
}

// valueNode encodes one value. The nodes are built by hand rather than
// with yaml.Node.Encode, whose block-style strings do not always read back
// (a line starting with a tab, for one).
func valueNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(x)}, nil
	case float64:
		return floatNode(x), nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}, nil
	case string:
		return stringNode(x), nil
	case []int, []float64, []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		rv := reflect.ValueOf(x)
		for i := 0; i < rv.Len(); i++ {
			e, err := valueNode(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, e)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// plainSafe matches strings that read back as the same string when written
// without quotes; yamlWords are the exceptions it would let through.
var (
	plainSafe = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./+-]*$`)
	yamlWords = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "y": true, "n": true, "null": true}
)

// stringNode encodes a string plainly when that is safe, double-quoted
// (with escapes) otherwise.
func stringNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !plainSafe.MatchString(s) || yamlWords[strings.ToLower(s)] {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// floatNode encodes a finite float so that it reads back as a float.
func floatNode(f float64) *yaml.Node {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
}
