package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile checks docker-compose.yml without a Docker engine: it
// parses; Redis, two switchboard nodes, a `switchboard turn` relay and
// HAProxy are there; every SWITCHBOARD_* variable a node sets is a real
// option and the nodes' environment validates; the relay's flags are ones
// `switchboard turn` accepts; and the Dockerfile the services build is
// multi-stage, static and non-root.
func TestComposeFile(t *testing.T) {
	parallel(t)
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	type service struct {
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		}
		Image       string            `yaml:"image"`
		NetworkMode string            `yaml:"network_mode"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	}
	var compose struct {
		Services map[string]service
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(false)
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	// ${VAR:-default} takes its default, ${VAR:?message} a value a user
	// would have to give.
	subst := regexp.MustCompile(`\$\{[A-Z_]+:([-?])([^}]*)\}`)
	expand := func(v string) string {
		return subst.ReplaceAllStringFunc(v, func(m string) string {
			p := subst.FindStringSubmatch(m)
			if p[1] == "?" {
				return "a-secret-for-the-compose-test"
			}
			return p[2]
		})
	}
	var help bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &help); err == nil {
		t.Fatal("-h did not print usage")
	}
	var nodes, relays int
	for name, svc := range compose.Services {
		if svc.NetworkMode != "host" {
			t.Errorf("%s: network %q, want host", name, svc.NetworkMode)
		}
		if svc.Build.Context == "" {
			continue
		}
		if svc.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s builds %q", name, svc.Build.Dockerfile)
		}
		if len(svc.Command) > 0 && svc.Command[0] == "turn" {
			relays++
			args := make([]string, len(svc.Command)-1)
			for i, a := range svc.Command[1:] {
				args[i] = expand(a)
			}
			if _, err := parseTurnArgs(args, io.Discard); err != nil {
				t.Errorf("%s: switchboard %v: %v", name, svc.Command, err)
			}
			continue
		}
		nodes++
		env := map[string]string{}
		for k, v := range svc.Environment {
			if !strings.HasPrefix(k, envPrefix) || !strings.Contains(help.String(), "$"+k+"]") {
				t.Errorf("%s: %s names no option", name, k)
			}
			env[k] = expand(v)
		}
		if env["SWITCHBOARD_REDIS"] == "" {
			t.Errorf("%s: no SWITCHBOARD_REDIS", name)
		}
		c, err := parseConfig(svc.Command, func(k string) string { return env[k] }, &bytes.Buffer{})
		if err != nil {
			t.Errorf("%s: the command and environment do not validate: %v", name, err)
		} else if c.TURNAddr != "" || c.TURNURLs == "" {
			t.Errorf("%s: bundled relay %q, pool %q: want only the pool", name, c.TURNAddr, c.TURNURLs)
		}
	}
	if nodes != 2 || relays != 1 || !strings.HasPrefix(compose.Services["redis"].Image, "redis") ||
		!strings.HasPrefix(compose.Services["haproxy"].Image, "haproxy") {
		t.Errorf("want redis, two nodes, one relay and haproxy; got %d nodes, %d relays, services %v", nodes, relays, compose.Services)
	}
	if v := compose.Services["haproxy"].Volumes; len(v) != 1 || !strings.HasPrefix(v[0], "./scripts/haproxy.cfg:") {
		t.Errorf("haproxy mounts %v, want scripts/haproxy.cfg", v)
	}

	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" AS build", "CGO_ENABLED=0", "./cmd/switchboard", "COPY --from=build", "USER nonroot"} {
		if !bytes.Contains(docker, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
