package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"time"
)

// Mode separates sandbox businesses (simulated rails, sk_test_ keys) from live ones.
type Mode string

// Business modes.
const (
	ModeSandbox Mode = "sandbox"
	ModeLive    Mode = "live"
)

// Business is a tenant: it owns its main profile, its customers and every row that
// mentions it.
type Business struct {
	ID        string
	Name      string
	Mode      Mode
	CreatedAt time.Time
}

// KeyMode says what an API key may do.
type KeyMode string

// API key modes.
const (
	KeyFull     KeyMode = "full"
	KeyReadOnly KeyMode = "read_only"
)

// APIKey is a business's secret key as stored: only its hash and a hint.
type APIKey struct {
	ID         string
	Business   string
	Name       string
	Mode       KeyMode
	Hint       string // the last four characters, to tell keys apart
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// secretBytes is the entropy of every generated secret (256 bits).
const secretBytes = 32

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewSecret returns prefix + 256 random bits in base62, e.g. "sk_test_…".
func NewSecret(prefix string) string {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	n := new(big.Int).SetBytes(b)
	out := make([]byte, 0, 44)
	base := big.NewInt(62)
	mod := new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, base62[mod.Int64()])
	}
	for len(out) < 43 {
		out = append(out, '0')
	}
	return prefix + string(out)
}

// HashSecret is how secrets are stored and looked up: SHA-256 of the whole string.
// The secrets carry 256 random bits, so a fast hash is safe here.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretKeyPrefix returns the prefix of a business's secret keys by mode.
func SecretKeyPrefix(m Mode) string {
	if m == ModeLive {
		return "sk_live_"
	}
	return "sk_test_"
}
