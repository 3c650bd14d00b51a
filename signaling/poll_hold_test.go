package signaling

import (
	"testing"
	"time"
)

// TestPollResumeHolds: a poll that resumes with nothing waiting is held
// for PollWait and answers [], without a resumed notice; otherwise every
// poll would come back at once and clients would poll in a busy loop.
func TestPollResumeHolds(t *testing.T) {
	const wait = 300 * time.Millisecond
	_, url := startServer(t, Config{PollWait: wait})
	base := httpBase(url)
	_, fs := poll(t, base, "")
	if len(fs) != 1 || fs[0].str("type") != "welcome" {
		t.Fatalf("first poll: %v", fs)
	}
	token := fs[0].str("token")
	start := time.Now()
	status, fs := poll(t, base, "token="+token+"&after=1")
	if took := time.Since(start); status != 200 || len(fs) != 0 || took < wait*3/4 {
		t.Errorf("resumed poll: %d %v after %s, want 200 [] after about %s", status, fs, took, wait)
	}
}
