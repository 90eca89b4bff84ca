package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a delivery:
// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>.
const SignatureHeader = "X-Tally-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the receiver's
// clock before Verify refuses it, which bounds how long a captured delivery can be
// replayed.
const DefaultTolerance = 300 * time.Second

// Errors returned by Verify. Receivers answer 400 to any of them.
var (
	ErrNoSignature      = errors.New("webhook: missing or malformed X-Tally-Signature header")
	ErrStaleTimestamp   = errors.New("webhook: signature timestamp outside the tolerance")
	ErrSignatureInvalid = errors.New("webhook: no signature matches the body")
)

// signatureHeaderLenMax bounds the header Verify parses.
const signatureHeaderLenMax = 4096

// Sign returns the X-Tally-Signature value for body sent at t. The HMAC key is the
// endpoint secret exactly as shown at creation (the whole "whsec_…" string).
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (the X-Tally-Signature value) against the raw request body:
// the timestamp must be within tolerance of now (DefaultTolerance when tolerance is
// zero or negative) and one v1 signature must equal HMAC-SHA256(secret,
// "<t>.<body>"), compared in constant time. Several v1 entries are accepted so a
// secret can be rotated. Pass the body exactly as received, before any JSON
// decoding: re-encoding changes the bytes and breaks the signature.
//
// This function depends only on the standard library; integrators may copy it.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if header == "" || len(header) > signatureHeaderLenMax {
		return ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrNoSignature
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue // not ours; another v1 may still match
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew > tolerance || skew < -tolerance {
		return ErrStaleTimestamp
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrSignatureInvalid
}
