package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// header is what every request carries: Options.Header and Origin.
func (c *Client) header() http.Header {
	h := c.opts.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if c.opts.Origin != "" {
		h.Set("Origin", c.opts.Origin)
	}
	return h
}

func (c *Client) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header() {
		req.Header[k] = v
	}
	return req, nil
}

// httpRefusal names a refused request: the protocol code of its JSON
// error body, else fallback.
func httpRefusal(resp *http.Response, fallback string) string {
	var body struct{ Code, Message string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(b, &body) == nil && body.Code != "" {
		return body.Code + ": " + body.Message
	}
	return fallback
}

// postError is a refusal of POST /v1/send as a whole.
type postError struct {
	status int
	code   string
}

func (e *postError) Error() string { return fmt.Sprintf("send refused: HTTP %d %s", e.status, e.code) }

// post sends texts as one JSON array to /v1/send, acknowledging the
// events up to ack. It returns one answer per frame: nil, or the error
// frame it earned.
func (c *Client) post(ctx context.Context, base *url.URL, room, token string, ack uint64, texts [][]byte) ([]*frame, error) {
	body := append([]byte{'['}, bytes.Join(texts, []byte{','})...)
	body = append(body, ']')
	req, err := c.newRequest(ctx, http.MethodPost, endpoint(base, "/v1/send", room, cursor{}, false), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if ack > 0 {
		// The last event handled: the server may forget it and those
		// before it. An event stream has no other way to acknowledge.
		req.Header.Set("Last-Event-ID", strconv.FormatUint(ack, 10))
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code string }
		_ = json.Unmarshal(b, &e)
		return nil, &postError{status: resp.StatusCode, code: e.Code}
	}
	var answers []*frame
	if json.Unmarshal(b, &answers) != nil || len(answers) != len(texts) {
		return nil, fmt.Errorf("%w: POST /v1/send %.80s", errBadAnswer, b)
	}
	return answers, nil
}

// iceAnswer is the body of GET /v1/ice-servers.
type iceAnswer struct {
	ICEServers []ICEServer `json:"iceServers"`
	TTL        int         `json:"ttl"`
}

// fetchICEServers asks the server for fresh ICE servers for the session
// whose token this is. status is the HTTP status of a refusal.
func (c *Client) fetchICEServers(ctx context.Context, token string) (ans iceAnswer, status int, err error) {
	req, err := c.newRequest(ctx, http.MethodGet, endpoint(c.home, "/v1/ice-servers", "", cursor{}, false), nil)
	if err != nil {
		return ans, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return ans, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ans, resp.StatusCode, fmt.Errorf("ice servers refused: %s", httpRefusal(resp, resp.Status))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxEventBytes)).Decode(&ans); err != nil {
		return ans, 0, fmt.Errorf("%w: ice servers: %v", errBadAnswer, err)
	}
	return ans, 0, nil
}

// reachable reports whether the server answers plain HTTP at all:
// falling back only then keeps a server that is down (or a network that
// is) from pushing every client down to long-polling after a restart.
func (c *Client) reachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Any answer will do; without a token this one is a quick 401.
	req, err := c.newRequest(ctx, http.MethodGet, endpoint(c.home, "/v1/ice-servers", "", cursor{}, false), nil)
	if err != nil {
		return false
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode < 500 // a proxy's 502 or 503: its node is away
}
