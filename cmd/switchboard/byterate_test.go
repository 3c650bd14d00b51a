package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestByteRateFlags: -byte-rate and -byte-burst reach the signaling
// server. A burst of one frame's size lets one 60 KB POST through and
// refuses the next with 429.
func TestByteRateFlags(t *testing.T) {
	parallel(t)
	app := startApp(t, func(c *config) { c.ByteRate, c.ByteBurst = 1024, 64<<10 })
	resp, err := http.Get(app.httpURL + "/v1/poll")
	if err != nil {
		t.Fatal(err)
	}
	var welcome []struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&welcome)
	resp.Body.Close()
	if err != nil || len(welcome) != 1 || welcome[0].Token == "" {
		t.Fatalf("welcome %v: %v", welcome, err)
	}
	body := `{"type":"ping","id":"` + strings.Repeat("a", 60000) + `"}`
	var statuses []int
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, app.httpURL+"/v1/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+welcome[0].Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusTooManyRequests {
		t.Errorf("statuses %v, want [200 429]", statuses)
	}
}
