package client

import "time"

// SetMinICERenewal lets a test renew credentials sooner than a real
// client ever would; it returns the undo.
func SetMinICERenewal(d time.Duration) func() {
	old := minICERenewal
	minICERenewal = d
	return func() { minICERenewal = old }
}

// OwnerOrigin exposes ownerOrigin to the table test.
func OwnerOrigin(owner, home string) string {
	h, err := serverOrigin(home)
	if err != nil {
		return "bad home"
	}
	if u := ownerOrigin(owner, h); u != nil {
		return u.String()
	}
	return ""
}
