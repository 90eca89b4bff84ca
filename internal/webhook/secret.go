package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// SecretPrefix starts every endpoint signing secret.
const SecretPrefix = "whsec_"

// secretRandomBytes is the entropy of a signing secret (DESIGN.md §4: ≥ 256 bits).
const secretRandomBytes = 32

// NewSecret returns a fresh signing secret, "whsec_" + 43 base64url characters.
func NewSecret() string {
	var b [secretRandomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Seal encrypts secret with AES-256-GCM under key (TALLY_WEBHOOK_KEY, 32 bytes) and
// returns nonce ‖ ciphertext. aad binds the ciphertext to its row (business and
// endpoint id), so a sealed secret copied onto another endpoint does not open.
func Seal(key []byte, secret string, aad string) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(secret)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return gcm.Seal(nonce, nonce, []byte(secret), []byte(aad)), nil
}

// Open reverses Seal; a wrong key, a wrong aad or a tampered value fails.
func Open(key []byte, sealed []byte, aad string) (string, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return "", err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return "", errors.New("webhook secret: sealed value too short")
	}
	n := gcm.NonceSize()
	plain, err := gcm.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return "", errors.New("webhook secret: cannot decrypt (was TALLY_WEBHOOK_KEY changed?)")
	}
	return string(plain), nil
}

// SecretAAD is the associated data that binds a sealed secret to its endpoint.
func SecretAAD(business, endpoint string) string { return business + "/" + endpoint }

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("webhook key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
