package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// One description of every flag feeds -help and is what README.md's
// configuration table must say (TestREADMEConfigurationTable): its name,
// the type of its value, its environment twin, its one default.

// describedDefaults are defaults worked out at start, said in words.
var describedDefaults = map[string]string{
	"turn-secret":        "random per start",
	"public-ip":          "first non-loopback IPv4, else 127.0.0.1",
	"max-sessions":       "from the fd limit",
	"max-buffered-bytes": "a quarter of memory",
	"max-conns-per-ip":   "twice -max-sessions-per-ip, plus 64",
	"metrics-addr":       "on the HTTP port, this host only",
	"turn-udp-sockets":   "one per core",
	"turn-source-quota":  "an eighth of the relay ports, at most 256",
	"turn-total-quota":   "half the relay ports",
	"state-file":         "sessions-PORT.state in the state directory",
}

// flagDoc is one flag as -help shows it.
type flagDoc struct {
	Name, Type, Env, Usage string
	// Default is the literal default, or words (Described); "" when the
	// zero value is the default (off, none, 0).
	Default   string
	Described bool
}

func flagDocs(fs *flag.FlagSet) []flagDoc {
	var docs []flagDoc
	fs.VisitAll(func(f *flag.Flag) {
		d := flagDoc{Name: f.Name}
		d.Type, d.Usage = flag.UnquoteUsage(f)
		if t, ok := f.Value.(interface{ Type() string }); ok {
			d.Type = t.Type()
		}
		if f.Name != "version" {
			d.Env = envName(f.Name)
		}
		switch words, ok := describedDefaults[f.Name]; {
		case ok:
			d.Default, d.Described = words, true
		case f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s":
			d.Default = f.DefValue
		}
		docs = append(docs, d)
	})
	return docs
}

// printFlags is -help's list: the flag package's layout, with the
// environment twin (when the command has them) and one default.
func printFlags(out io.Writer, fs *flag.FlagSet, envTwins bool) {
	for _, d := range flagDocs(fs) {
		if !envTwins {
			d.Env = ""
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", d.Name)
		if d.Type != "" {
			b.WriteString(" " + d.Type)
		}
		b.WriteString("\n    \t" + strings.ReplaceAll(d.Usage, "\n", "\n    \t"))
		if d.Env != "" {
			b.WriteString(" [$" + d.Env + "]")
		}
		switch {
		case d.Described:
			fmt.Fprintf(&b, " (default: %s)", d.Default)
		case d.Default != "" && d.Type == "string":
			fmt.Fprintf(&b, " (default %q)", d.Default)
		case d.Default != "":
			fmt.Fprintf(&b, " (default %s)", d.Default)
		}
		fmt.Fprintln(out, b.String())
	}
}
