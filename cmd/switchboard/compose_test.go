package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile checks docker-compose.yml without a Docker engine: it
// parses, builds this command, and every SWITCHBOARD_* variable it sets is
// a real option whose value passes validation.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context          string `yaml:"context"`
				DockerfileInline string `yaml:"dockerfile_inline"`
			}
			NetworkMode string            `yaml:"network_mode"`
			Environment map[string]string `yaml:"environment"`
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(false)
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["switchboard"]
	if !ok {
		t.Fatal("no switchboard service")
	}
	if !strings.Contains(svc.Build.DockerfileInline, "./cmd/switchboard") || svc.NetworkMode != "host" {
		t.Fatalf("service builds %q with network %q", svc.Build.DockerfileInline, svc.NetworkMode)
	}
	// ${VAR:-default} takes its default, ${VAR:?message} a value a user
	// would have to give.
	subst := regexp.MustCompile(`\$\{[A-Z_]+:([-?])([^}]*)\}`)
	env := map[string]string{}
	for k, v := range svc.Environment {
		if !strings.HasPrefix(k, envPrefix) {
			t.Errorf("%s is not a switchboard variable", k)
		}
		env[k] = subst.ReplaceAllStringFunc(v, func(m string) string {
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
	for k := range env {
		if !strings.Contains(help.String(), "$"+k+"]") {
			t.Errorf("%s names no option", k)
		}
	}
	if _, err := parseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{}); err != nil {
		t.Fatalf("the compose environment does not validate: %v", err)
	}
}
