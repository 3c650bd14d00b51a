package wire

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeName returns a display name in NFKC, the form peers are shown,
// and whether it may be shown: at most 64 bytes of printable UTF-8 with a
// visible character (not only spaces or combining marks), and not a name
// pages show for the local user ("You", "Ada (you)") however it is
// spelled: full-width letters, combining marks and Cyrillic or Greek
// letters that look Latin ("Yоu" with a Cyrillic о) count as what they
// look like. "" (no name) is allowed.
func NormalizeName(name string) (string, bool) {
	if !utf8.ValidString(name) {
		return "", false
	}
	name = norm.NFKC.String(name)
	if name == "" {
		return "", true
	}
	if len(name) > maxNameLen || impersonatesUI(skeleton(name)) {
		return "", false
	}
	visible := false
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", false
		}
		visible = visible || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	}
	return name, visible
}

// impersonatesUI reports names that pages show for the local user, such
// as "You" or "Ada (you)": a peer named so could pass for oneself.
func impersonatesUI(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	return n == "you" || n == "me" || strings.HasSuffix(n, "(you)")
}

// skeleton is name as it looks: decomposed, without combining marks, and
// with letters that pass for Latin ones replaced by them. It is for
// comparing, never shown.
func skeleton(name string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(name) {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if l, ok := lookalikes[r]; ok {
			r = l
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lookalikes maps Cyrillic, Greek and small-capital letters to the Latin
// letters they pass for (a subset of Unicode's confusables, enough for
// the names pages reserve).
var lookalikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't',
	'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'һ': 'h', 'ӏ': 'l', 'ԛ': 'q', 'ԝ': 'w', 'ү': 'y', 'ս': 'u',
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T',
	'У': 'Y', 'Х': 'X', 'І': 'I', 'Ј': 'J', 'Ѕ': 'S', 'Ү': 'Y',
	'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'γ': 'y',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O',
	'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
	'ᴀ': 'a', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ɪ': 'i', 'ᴊ': 'j', 'ᴋ': 'k', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o',
	'ᴘ': 'p', 'ʀ': 'r', 'ᴛ': 't', 'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z',
}
