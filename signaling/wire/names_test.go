package wire

import "testing"

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"Ada", "Ada", true},
		{"", "", true},
		{"Ｂｅｎ", "Ben", true}, // full-width: shown as NFKC
		{"Zoë", "Zoë", true},
		{"李雷", "李雷", true},
		{"You", "", false},
		{"Y\u043eu", "", false},      // Cyrillic о
		{"\u0423\u043eu", "", false}, // Cyrillic У and о
		{"ʏᴏᴜ", "", false},           // small capitals
		{"Yo\u0301u", "", false},     // a combining accent
		{"Ｙｏｕ", "", false},           // full-width
		{"Ada (Υου)", "", false},     // Greek
		{"   ", "", false},           // blank
		{"\u0301\u0302", "", false},  // only combining marks
		{"a\u200bb", "", false},      // a format character
		{"x\x00", "", false},
		{"\xff", "", false},
	} {
		got, ok := NormalizeName(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"Ada", "You", "Y\u043eu", "Ｙｏｕ", " ", "\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, ok := NormalizeName(name)
		if !ok {
			return
		}
		if again, ok2 := NormalizeName(got); !ok2 || again != got {
			t.Fatalf("NormalizeName(%q) = %q, not stable: %q %v", name, got, again, ok2)
		}
		if len(got) > maxNameLen {
			t.Fatalf("NormalizeName(%q) is %d bytes", name, len(got))
		}
	})
}
