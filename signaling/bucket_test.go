package signaling

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	var b bucket
	// Full at first: the burst passes, then nothing.
	for i := 0; i < 5; i++ {
		if !b.allow(1, 0.001, 5) {
			t.Fatalf("token %d of a burst of 5 refused", i)
		}
	}
	if b.allow(1, 0.001, 5) {
		t.Fatal("sixth token allowed")
	}
	// take goes into debt and says how long it lasts.
	var c bucket
	if d := c.take(1000, 1000, 1000); d != 0 {
		t.Fatalf("taking the burst: wait %v", d)
	}
	if d := c.take(500, 1000, 1000); d < 400*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("500 tokens of debt at 1000/s: wait %v", d)
	}
	if c.allow(1, 1000, 1000) {
		t.Fatal("allowed while in debt")
	}
}
