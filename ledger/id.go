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
	ms, r := nextID(1)
	return formatID(prefix, ms, r)
}

// newIDBlock reserves the 32 ids that differ only in their last character and
// returns what they share: prefix and the first 25 characters. Any of the 32,
// completed with one character of crockford, is a new id (EntryIDOnShard picks
// one by its hash).
func newIDBlock(prefix string) string {
	ms, r := nextID(32)
	id := formatID(prefix, ms, r)
	return id[:len(id)-1]
}

// nextID reserves the next id, or, with block 32, the next 32 ids that share all
// but their last character (5 bits): the low 5 bits of the first are zero.
func nextID(block byte) (uint64, [10]byte) {
	ms := uint64(time.Now().UnixMilli())
	var r [10]byte
	idMu.Lock()
	defer idMu.Unlock()
	if ms <= idLastMs {
		ms = idLastMs
		r = idLastRand
		increment(&r)
	} else if _, err := rand.Read(r[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	last := r
	if block > 1 {
		if r[9]&(block-1) != 0 { // round up to the block's start
			r[9] |= block - 1
			increment(&r)
		}
		last = r
		last[9] |= block - 1
	}
	idLastMs, idLastRand = ms, last
	return ms, r
}

func increment(r *[10]byte) {
	for i := len(r) - 1; i >= 0; i-- {
		r[i]++
		if r[i] != 0 {
			break
		}
	}
}

func formatID(prefix string, ms uint64, r [10]byte) string {
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
