package config

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlInfo is what scanYAML learns about a YAML document that viper's
// decoded map does not tell.
type yamlInfo struct {
	lines    map[string]int    // dotted lower-case key -> line
	holes    []string          // keys whose value is null or an empty mapping, in document order
	holeText map[string]string // how each hole is shown in errors
	problems []string          // keys given twice
}

// scanYAML walks the node tree of a YAML document. It finds the line of
// every dotted key, the keys whose value is null or an empty mapping, and
// keys given twice: differing only in letter case, or written both flat
// ("optim.lr") and nested ("optim: {lr: …}"). Merge keys ("<<") are not
// followed. A document it cannot parse gives an empty result; viper reports
// the parse error.
func scanYAML(data []byte) yamlInfo {
	info := yamlInfo{lines: map[string]int{}, holeText: map[string]string{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil || len(doc.Content) == 0 {
		return info
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		info.problems = append(info.problems, fmt.Sprintf("line %d: a second YAML document; a configuration file holds one", next.Line))
	}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		inMapping := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Tag == "!!merge" {
				continue
			}
			low := strings.ToLower(kn.Value)
			key := low
			if prefix != "" {
				key = prefix + "." + low
			}
			if prev, dup := inMapping[low]; dup {
				info.problems = append(info.problems, fmt.Sprintf("line %d: key %q repeats the key on line %d (keys are case-insensitive)", kn.Line, kn.Value, prev))
				continue
			}
			inMapping[low] = kn.Line
			if prev, dup := info.lines[key]; dup {
				info.problems = append(info.problems, fmt.Sprintf("line %d: key %q given more than once (also on line %d)", kn.Line, key, prev))
				continue
			}
			info.lines[key] = kn.Line
			v := vn
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			switch {
			case v.Kind == yaml.MappingNode && len(v.Content) == 0:
				info.holes = append(info.holes, key)
				info.holeText[key] = "{} (mapping)"
			case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
				info.holes = append(info.holes, key)
				info.holeText[key] = "null"
			}
			walk(key, v)
		}
	}
	walk("", doc.Content[0])
	return info
}
