package turn

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v2"
)

// TestRFC5780 asks each CHANGE-REQUEST of a standalone relay with
// alt-listening-ip and checks who answered and what it said.
func TestRFC5780(t *testing.T) {
	o := DefaultOptions()
	conf := "listening-ip=127.0.0.1\nlistening-port=0\nalt-listening-ip=127.0.0.2\nstun-only\nudp-sockets=2\nno-tcp\n"
	if err := o.ParseConfigFile(strings.NewReader(conf), "rfc5780.conf"); err != nil {
		t.Fatal(err)
	}
	st, err := StartStandalone(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	primary := st.UDPAddr().(*net.UDPAddr)
	alt := st.AltAddr().(*net.UDPAddr)
	if !alt.IP.Equal(net.IPv4(127, 0, 0, 2)) || alt.Port == primary.Port {
		t.Fatalf("alternate %v, primary %v", alt, primary)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := []struct {
		name   string
		to     *net.UDPAddr
		flags  uint32
		origin *net.UDPAddr
	}{
		{"plain", primary, 0, primary},
		{"change port", primary, changePortFlag, &net.UDPAddr{IP: primary.IP, Port: alt.Port}},
		{"change ip", primary, changeIPFlag, &net.UDPAddr{IP: alt.IP, Port: primary.Port}},
		{"change both", primary, changeIPFlag | changePortFlag, alt},
		{"to the alternate", alt, 0, alt},
		{"alternate, change both", alt, changeIPFlag | changePortFlag, primary},
	}
	for _, tc := range cases {
		attrs := []stun.Setter{stun.TransactionID, stun.BindingRequest}
		if tc.flags != 0 {
			v := make([]byte, 4)
			binary.BigEndian.PutUint32(v, tc.flags)
			attrs = append(attrs, stun.RawAttribute{Type: stun.AttrChangeRequest, Value: v})
		}
		req := stun.MustBuild(append(attrs, stun.Fingerprint)...)
		if _, err := c.WriteToUDP(req.Raw, tc.to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp := &stun.Message{Raw: buf[:n]}
		if err := resp.Decode(); err != nil || resp.TransactionID != req.TransactionID {
			t.Fatalf("%s: bad answer %v", tc.name, err)
		}
		var origin, other, mapped stun.MappedAddress
		var xor stun.XORMappedAddress
		if origin.GetFromAs(resp, stun.AttrResponseOrigin) != nil || other.GetFromAs(resp, stun.AttrOtherAddress) != nil ||
			mapped.GetFrom(resp) != nil || xor.GetFrom(resp) != nil {
			t.Fatalf("%s: attributes missing in %v", tc.name, resp)
		}
		if from.String() != tc.origin.String() || origin.String() != tc.origin.String() {
			t.Errorf("%s: answered from %v, RESPONSE-ORIGIN %v; want %v", tc.name, from, origin.String(), tc.origin)
		}
		local := c.LocalAddr().(*net.UDPAddr)
		if xor.Port != local.Port || mapped.Port != local.Port {
			t.Errorf("%s: mapped %v / %v, want port %d", tc.name, xor, mapped, local.Port)
		}
		wantOther := alt
		if tc.to == alt {
			wantOther = primary
		}
		if other.String() != wantOther.String() {
			t.Errorf("%s: OTHER-ADDRESS %v, want %v", tc.name, other.String(), wantOther)
		}
	}
}

const (
	changeIPFlag   = 0x04
	changePortFlag = 0x02
)
