package turn

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// maxConfigLine bounds one line of a config file.
const maxConfigLine = 64 << 10

// ParseConfigFile reads coturn's turnserver.conf syntax into o: one option
// per line as "key=value", "key value" or a bare "key" for flags; lines
// starting with # are comments. name labels errors ("FILE:LINE: ...").
func (o *Options) ParseConfigFile(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxConfigLine)
	for line := 1; sc.Scan(); line++ {
		key, value, hasValue, ok := splitConfigLine(sc.Text())
		if !ok {
			continue
		}
		if err := o.Set(key, value, hasValue); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// splitConfigLine returns the key and value of one line; ok is false for
// blank and comment lines. A leading "--" is allowed, as coturn allows it.
func splitConfigLine(line string) (key, value string, hasValue, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", "", false, false
	}
	line = strings.TrimPrefix(line, "--")
	i := strings.IndexAny(line, "= \t")
	if i < 0 {
		return line, "", false, true
	}
	key = line[:i]
	value = strings.TrimSpace(line[i+1:])
	if line[i] != '=' {
		value = strings.TrimSpace(strings.TrimPrefix(value, "="))
	}
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	return key, value, true, true
}
