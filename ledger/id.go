package ledger

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// Prefixes of the opaque ids of API.md §3.
const (
	PrefixBusiness   = "BUS_"
	PrefixCustomer   = "CUS_"
	PrefixWallet     = "WAL_"
	PrefixAddress    = "ADR_"
	PrefixDeposit    = "DPT_"
	PrefixPayout     = "PAY_"
	PrefixTransfer   = "TRF_"
	PrefixQuote      = "QUO_"
	PrefixConversion = "CNV_"
	PrefixLine       = "TXN_"
	PrefixEntry      = "ENT_"
	PrefixEvent      = "EVT_"
	PrefixWebhook    = "WHK_"
	PrefixKey        = "KEY_"
	PrefixRailKey    = "RLK_"
	PrefixRequest    = "req_"
)

// crockford is the base32 alphabet of ULIDs: sortable and free of look-alikes.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idMu sync.Mutex
var idLastMs uint64
var idLastRand [10]byte

// NewID returns prefix + a 26-character ULID: 48 bits of milliseconds then 80 random
// bits, incremented within one millisecond so ids of one process sort by creation.
func NewID(prefix string) string {
	ms := uint64(time.Now().UnixMilli())
	var r [10]byte
	idMu.Lock()
	if ms <= idLastMs {
		ms = idLastMs
		r = idLastRand
		for i := len(r) - 1; i >= 0; i-- {
			r[i]++
			if r[i] != 0 {
				break
			}
		}
	} else if _, err := rand.Read(r[:]); err != nil {
		idMu.Unlock()
		panic("crypto/rand failed: " + err.Error())
	}
	idLastMs, idLastRand = ms, r
	idMu.Unlock()

	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	copy(b[6:], r[:])
	var out strings.Builder
	out.Grow(len(prefix) + 26)
	out.WriteString(prefix)
	// 128 bits as 26 base32 characters: the first carries 3 bits.
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var chars [26]byte
	for i := 25; i >= 0; i-- {
		chars[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	out.Write(chars[:])
	return out.String()
}

// ValidID reports whether s looks like an id with the given prefix. It never
// touches storage, so a malformed id can be refused without a query.
func ValidID(s, prefix string) bool {
	if len(s) != len(prefix)+26 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !strings.ContainsRune(crockford, c) {
			return false
		}
	}
	return true
}
