package turn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxConfigLine bounds one line of a config file.
const maxConfigLine = 64 << 10

// maxConfigErrors bounds the problems one file reports: a file that is
// not a config at all should not print a line of errors per line.
const maxConfigErrors = 50

// ParseConfigFile reads coturn's turnserver.conf syntax into o: one option
// per line as "key=value", "key value" or a bare "key" for flags; lines
// starting with # are comments. name labels errors ("FILE:LINE: ...").
// It reads the whole file and reports every bad line at once, joined
// (errors.Join); the lines it could read are applied. Coturn keys that
// are accepted and ignored are listed by Ignored.
func (o *Options) ParseConfigFile(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxConfigLine)
	var errs []error
	line := 1
	for ; sc.Scan(); line++ {
		key, value, hasValue, ok := splitConfigLine(sc.Text())
		if !ok {
			continue
		}
		at := fmt.Sprintf("%s:%d", name, line)
		if err := o.set(key, value, hasValue, at); err != nil {
			if len(errs) == maxConfigErrors {
				errs = append(errs, fmt.Errorf("%s: stopped reading at line %d after %d problems", name, line, maxConfigErrors))
				return errors.Join(errs...)
			}
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
	}
	return errors.Join(errs...)
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
