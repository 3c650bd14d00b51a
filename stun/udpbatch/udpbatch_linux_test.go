//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEncodeDecode(t *testing.T) {
	for _, c := range []struct {
		to      string
		v6      bool
		wantLen uint32
	}{
		{"192.0.2.7:3478", false, unix.SizeofSockaddrInet4},
		{"[::ffff:192.0.2.7]:3478", false, unix.SizeofSockaddrInet4}, // unmapped for an IPv4 socket
		{"192.0.2.7:65535", true, unix.SizeofSockaddrInet6},          // mapped for a dual-stack one
		{"[2001:db8::1]:1", true, unix.SizeofSockaddrInet6},
		{"[2001:db8::1]:1", false, 0}, // an IPv4 socket cannot send there
	} {
		to := netip.MustParseAddrPort(c.to)
		var sa unix.RawSockaddrAny
		n := Encode(&sa, to, c.v6)
		if n != c.wantLen {
			t.Fatalf("%s v6=%v: length %d, want %d", c.to, c.v6, n, c.wantLen)
		}
		if n == 0 {
			continue
		}
		want := netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
		if got := Decode(&sa); got != want {
			t.Fatalf("%s v6=%v: decoded %v", c.to, c.v6, got)
		}
	}
	if got := Decode(&unix.RawSockaddrAny{}); got.IsValid() {
		t.Fatalf("an empty sockaddr decoded as %v", got)
	}
}
