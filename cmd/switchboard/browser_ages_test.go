package main

import "time"

// sseMaxAgeForTest is the -sse-max-age of the browser test: the server
// ends Alice's event stream during the call, and her page must not notice.
const sseMaxAgeForTest = 2 * time.Second

// shortChannelAges makes the server end channels soon, so the browser
// test sees the page survive it: event streams end at sseMaxAgeForTest,
// long-polls answer [] after a second. (-ws-max-age is checked once per
// heartbeat, 20 s, too slow for this test; the client's answer to close
// 4000 is tested against the fake server in TestClientResume.)
func shortChannelAges(c *config) {
	c.SSEMaxAge = sseMaxAgeForTest
	c.PollWait = time.Second
}
