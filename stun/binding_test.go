package stun

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestBindingFastPath: a real STUN client gets its mapped address from the
// wrapped socket, and other traffic still reaches the socket's reader.
func TestBindingFastPath(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := NewConn(pc)
	passed := make(chan string, 1)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				close(passed)
				return
			}
			passed <- string(buf[:n])
		}
	}()

	udp, err := net.Dial("udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, err := stun.NewClient(udp)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		var xor stun.XORMappedAddress
		var callbackErr error
		err = client.Do(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint), func(e stun.Event) {
			if callbackErr = e.Error; callbackErr == nil {
				callbackErr = xor.GetFrom(e.Message)
			}
		})
		if err != nil || callbackErr != nil {
			t.Fatalf("binding: %v / %v", err, callbackErr)
		}
		if local := udp.LocalAddr().(*net.UDPAddr); !xor.IP.Equal(local.IP) || xor.Port != local.Port {
			t.Fatalf("mapped %v, want %v", xor, local)
		}
	}
	// A non-Binding packet is handed to the reader untouched.
	other, err := net.Dial("udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Write([]byte("channel data")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-passed:
		if got != "channel data" {
			t.Fatalf("reader got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("non-Binding packet never reached the reader")
	}
	// The count goes up just after an answer is sent, so the client may
	// have it first; but the reader counts it before handing out any later
	// packet, so once the reader has passed this one the count is final.
	if n := conn.Answered(); n != 3 {
		t.Fatalf("answered %d, want 3", n)
	}
	client.Close()
	pc.Close()
	<-passed
}

func TestMalformedBindingPassedOn(t *testing.T) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	bad := append([]byte(nil), req.Raw...)
	bad[len(bad)-1] ^= 0xff // corrupt FINGERPRINT
	var in, out stun.Message
	if err := bindingResponse(&in, &out, bad, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}); err == nil {
		t.Fatal("answered a request with a bad fingerprint")
	}
	if looksLikeBinding(bad[:19]) || looksLikeBinding(append(bad, 0, 0, 0, 0)) {
		t.Fatal("accepted a packet whose length disagrees with its header")
	}
}
