package main

import (
	"io"
	"testing"
)

// FuzzConfig: any flag value or environment value yields a config or an
// error, never a panic, and an accepted config has a usable relay range.
func FuzzConfig(f *testing.F) {
	f.Add("relay-ports", "49152-65535", "SWITCHBOARD_PUBLIC_IP", "203.0.113.1")
	f.Add("public-ip", "::1", "SWITCHBOARD_CREDENTIAL_TTL", "10m")
	f.Add("rate-limit", "NaN", "SWITCHBOARD_ROOM_SIZE", "-1")
	f.Fuzz(func(t *testing.T, flagName, flagValue, envName, envValue string) {
		getenv := func(k string) string {
			if k == envName {
				return envValue
			}
			return ""
		}
		c, err := parseConfig([]string{"-" + flagName, flagValue}, getenv, io.Discard)
		if err != nil {
			return
		}
		if c.relayMin < 1 || c.relayMax > 65535 || c.relayMin > c.relayMax || c.publicIP == nil {
			t.Fatalf("accepted config %+v", c)
		}
	})
}
