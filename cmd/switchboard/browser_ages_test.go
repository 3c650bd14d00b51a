package main

import "time"

// sseMaxAgeForTest, when set, is the -sse-max-age of the browser test, so
// that the server ends Alice's event stream during the call.
const sseMaxAgeForTest = 0 * time.Second

// shortChannelAges makes the server end channels soon, so the browser
// test sees the page survive it.
func shortChannelAges(c *config) {}
