package webhook

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: Verify never panics and returns nil or one of its three errors; a
// header made by Sign always verifies within the tolerance; a changed body or
// secret never verifies; and any header that does verify carries the true HMAC
// (so no malformed header slips through). Seeds: testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"EVT_1"}`)
	f.Add("whsec_abc", Sign("whsec_abc", now, body), body, int64(0))
	f.Add("whsec_abc", "t=1800000000,v1=00", body, int64(10))
	f.Add("", "t=,v1=", []byte{}, int64(-400))
	f.Add("s", "t=99999999999999999999,v1="+strings.Repeat("a", 64), body, int64(1))
	f.Add("s", "v1=x,t=1800000000,v1="+strings.Repeat("0", 64)+",v0=zz", body, int64(0))
	f.Fuzz(func(t *testing.T, secret, header string, body []byte, offset int64) {
		err := Verify(secret, header, body, 0, now)
		if err != nil && !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrStaleTimestamp) && !errors.Is(err, ErrSignatureInvalid) {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		if err == nil && !strings.Contains(strings.ToLower(header), hex.EncodeToString(mac(secret, timestampOf(header), body))) {
			t.Fatalf("header %q verified without the true signature", header)
		}
		sent := now.Add(time.Duration(offset%600) * time.Second)
		good := Sign(secret, sent, body)
		want := error(nil)
		if d := now.Sub(sent); d > DefaultTolerance || d < -DefaultTolerance {
			want = ErrStaleTimestamp
		}
		if err := Verify(secret, good, body, 0, now); !errors.Is(err, want) {
			t.Fatalf("Sign(%q, %v) then Verify = %v, want %v", secret, sent, err, want)
		}
		if want == nil {
			if err := Verify(secret, good, append(append([]byte{}, body...), 'x'), 0, now); !errors.Is(err, ErrSignatureInvalid) {
				t.Fatalf("a changed body verified: %v", err)
			}
			if err := Verify(secret+"x", good, body, 0, now); !errors.Is(err, ErrSignatureInvalid) {
				t.Fatalf("another secret verified: %v", err)
			}
		}
	})
}

// timestampOf returns the last t= value of a header, as Verify reads it.
func timestampOf(header string) string {
	ts := ""
	for _, part := range strings.Split(header, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "t" {
			ts = v
		}
	}
	return ts
}
