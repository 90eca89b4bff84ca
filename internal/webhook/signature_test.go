package webhook

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/ledger"
)

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	body := []byte(`{"id":"EVT_1","type":"customer.created","data":{"a":1}}`)
	now := time.Unix(1_800_000_000, 0)
	header := Sign(secret, now, body)
	if !strings.HasPrefix(header, "t=1800000000,v1=") || len(header) != len("t=1800000000,v1=")+64 {
		t.Fatalf("header = %q", header)
	}
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", secret, header, body, now, nil},
		{"valid within tolerance", secret, header, body, now.Add(299 * time.Second), nil},
		{"valid with clock behind", secret, header, body, now.Add(-299 * time.Second), nil},
		{"rotated secret: second v1 matches", secret, "t=1800000000,v1=" + strings.Repeat("ab", 32) + "," + strings.Split(header, ",")[1], body, now, nil},
		{"tampered body", secret, header, []byte(`{"id":"EVT_1","type":"customer.created","data":{"a":2}}`), now, ErrSignatureInvalid},
		{"body re-encoded with spaces", secret, header, []byte(`{"id": "EVT_1","type":"customer.created","data":{"a":1}}`), now, ErrSignatureInvalid},
		{"wrong secret", NewSecret(), header, body, now, ErrSignatureInvalid},
		{"stale timestamp", secret, header, body, now.Add(301 * time.Second), ErrStaleTimestamp},
		{"timestamp from the future", secret, header, body, now.Add(-301 * time.Second), ErrStaleTimestamp},
		{"timestamp changed", secret, strings.Replace(header, "t=1800000000", "t=1800000001", 1), body, now, ErrSignatureInvalid},
		{"missing header", secret, "", body, now, ErrNoSignature},
		{"no v1", secret, "t=1800000000", body, now, ErrNoSignature},
		{"no t", secret, strings.Split(header, ",")[1], body, now, ErrNoSignature},
		{"garbage", secret, "nonsense", body, now, ErrNoSignature},
		{"truncated signature", secret, header[:len(header)-2], body, now, ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, 0, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// An explicit tolerance replaces the default.
	if err := Verify(secret, header, body, 10*time.Second, now.Add(11*time.Second)); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("Verify with 10s tolerance = %v, want stale", err)
	}
}

func TestSecretSealOpen(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := NewSecret()
	if !strings.HasPrefix(secret, SecretPrefix) || len(secret) != len(SecretPrefix)+43 {
		t.Fatalf("secret = %q", secret)
	}
	sealed, err := Seal(key, secret, SecretAAD("BUS_1", "WHK_1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), secret[len(SecretPrefix):]) {
		t.Fatal("sealed value contains the secret")
	}
	got, err := Open(key, sealed, SecretAAD("BUS_1", "WHK_1"))
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v; want %q", got, err, secret)
	}
	if _, err := Open(key, sealed, SecretAAD("BUS_2", "WHK_1")); err == nil {
		t.Fatal("Open with another endpoint's aad succeeded")
	}
	if _, err := Open([]byte("fedcba9876543210fedcba9876543210"), sealed, SecretAAD("BUS_1", "WHK_1")); err == nil {
		t.Fatal("Open with another key succeeded")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := Open(key, sealed, SecretAAD("BUS_1", "WHK_1")); err == nil {
		t.Fatal("Open of a tampered value succeeded")
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	sandbox := PolicyFor(ledger.ModeSandbox, false)
	live := PolicyFor(ledger.ModeLive, false)
	liveOpen := PolicyFor(ledger.ModeLive, true)
	tests := []struct {
		name   string
		url    string
		policy Policy
		ok     bool
	}{
		{"sandbox http loopback", "http://127.0.0.1:8080/hook", sandbox, true},
		{"sandbox localhost", "http://localhost/hook", sandbox, true},
		{"sandbox https", "https://example.com/hook", sandbox, true},
		{"ftp refused", "ftp://example.com/hook", sandbox, false},
		{"javascript refused", "javascript:alert(1)", sandbox, false},
		{"file refused", "file:///etc/passwd", sandbox, false},
		{"relative refused", "/hook", sandbox, false},
		{"no host", "http:///hook", sandbox, false},
		{"credentials refused", "https://user:pass@example.com/hook", sandbox, false},
		{"too long", "https://example.com/" + strings.Repeat("a", URLLenMax), sandbox, false},
		{"live http refused", "http://93.184.215.14/hook", live, false},
		{"live public ip", "https://93.184.215.14/hook", live, true},
		{"live loopback refused", "https://127.0.0.1/hook", live, false},
		{"live localhost refused", "https://localhost/hook", live, false},
		{"live private refused", "https://10.1.2.3/hook", live, false},
		{"live metadata refused", "https://169.254.169.254/latest", live, false},
		{"live ipv6 loopback refused", "https://[::1]/hook", live, false},
		{"live mapped loopback refused", "https://[::ffff:127.0.0.1]/hook", live, false},
		{"live private allowed by operator", "https://10.1.2.3/hook", liveOpen, true},
		{"live http even when private allowed", "http://10.1.2.3/hook", liveOpen, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckURL(context.Background(), tt.url, tt.policy)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil && (ledger.ErrorCode(err) != ledger.CodeValidation) {
				t.Fatalf("code = %s, want validation_failed", ledger.ErrorCode(err))
			}
		})
	}
}

func TestPublicOnlyDialControl(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:80": false, "[::1]:443": false, "10.0.0.1:443": false,
		"169.254.169.254:80": false, "100.64.0.1:443": false, "93.184.215.14:443": true, "[2606:4700::1111]:443": true} {
		if err := publicOnlyControl("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("control(%s) = %v, want ok=%v", addr, err, ok)
		}
	}
	if PublicAddr(netip.MustParseAddr("::ffff:10.0.0.1")) {
		t.Error("IPv4-mapped private address counted as public")
	}
}

// TestBackoff checks the documented schedule: doubling from 30 s, capped at 6 h,
// jittered by ±20 %, and that it fits in about 20 attempts over 3 days.
func TestBackoff(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 30; n++ {
		base := 6 * time.Hour
		if n <= 10 {
			base = min(30*time.Second<<(n-1), 6*time.Hour)
		}
		for range 50 {
			d := Backoff(n)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("Backoff(%d) = %s, want %s ± 20%%", n, d, base)
			}
		}
	}
	var total time.Duration
	n := 0
	for total < 72*time.Hour {
		n++
		total += min(30*time.Second<<(n-1), 6*time.Hour)
	}
	if n < 15 || n > 25 {
		t.Fatalf("%d attempts fit in 3 days, want about 20", n)
	}
}
