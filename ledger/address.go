package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/sha3"
)

// Networks on which a customer may hold a wallet and a payout may be sent.
const (
	NetworkEthereum = "ethereum"
	NetworkBase     = "base"
	NetworkPolygon  = "polygon"
	NetworkBitcoin  = "bitcoin"
	NetworkTron     = "tron"
	NetworkSolana   = "solana"
	NetworkBank     = "bank" // the rail of every fiat currency
)

// Limits on addresses and wallets.
const (
	addressLenMax     = 128 // longer than any address of any network we support
	walletLabelLenMax = 100
	bech32LenMax      = 90 // BIP-173
	bankAccountLenMin = 6
	bankAccountLenMax = 34 // the longest IBAN
)

// addressValidators maps each supported network to its address rule. Every rule
// returns the normalised address (the form we store and compare) or false.
var addressValidators = map[string]func(string) (string, bool){
	NetworkEthereum: validateEVM,
	NetworkBase:     validateEVM,
	NetworkPolygon:  validateEVM,
	NetworkBitcoin:  validateBitcoin,
	NetworkTron:     validateTron,
	NetworkSolana:   validateSolana,
	NetworkBank:     validateBank,
}

// SupportedNetwork reports whether network has an address rule.
func SupportedNetwork(network string) bool {
	_, ok := addressValidators[network]
	return ok
}

// ValidateAddress checks address against the rules of network and returns the
// form to store: EVM addresses lowercased (a mixed-case address must pass its
// EIP-55 checksum first), bech32 addresses lowercased, bank accounts uppercased
// without spaces, base58 addresses unchanged. Testnet bitcoin forms are accepted
// too, since sandbox businesses use them.
//
// It returns network_unsupported (param "network") or invalid_address (param
// "address").
func ValidateAddress(network, address string) (string, error) {
	rule, ok := addressValidators[network]
	if !ok {
		return "", ParamErrorf(CodeNetworkUnsupported, "network", "network %q is not supported; use one of bank, base, bitcoin, ethereum, polygon, solana, tron", clip(network))
	}
	a := strings.TrimSpace(address)
	if a == "" {
		return "", ParamErrorf(CodeInvalidAddress, "address", "address is required")
	}
	if len(a) > addressLenMax || !utf8.ValidString(a) {
		return "", ParamErrorf(CodeInvalidAddress, "address", "address is not a valid %s address", network)
	}
	norm, ok := rule(a)
	if !ok {
		return "", ParamErrorf(CodeInvalidAddress, "address", "address is not a valid %s address", network)
	}
	return norm, nil
}

// clip shortens user input echoed in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// validateEVM accepts 0x + 40 hex digits. All-lowercase and all-uppercase carry no
// checksum; mixed case must match EIP-55, so a mistyped character is caught.
func validateEVM(a string) (string, bool) {
	if len(a) != 42 || a[:2] != "0x" {
		return "", false
	}
	body := a[2:]
	if _, err := hex.DecodeString(body); err != nil {
		return "", false
	}
	lower := strings.ToLower(body)
	if body != lower && body != strings.ToUpper(body) && body != eip55(lower) {
		return "", false
	}
	return "0x" + lower, true
}

// eip55 returns the checksummed spelling of a lowercase 40-hex-digit address: a
// letter is uppercased where the matching nibble of Keccak-256(address) is ≥ 8.
func eip55(lower string) string {
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if c >= 'a' && c <= 'f' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out)
}

// Base58check version bytes of bitcoin addresses: P2PKH and P2SH on mainnet and
// testnet.
var bitcoinVersions = map[byte]bool{0x00: true, 0x05: true, 0x6f: true, 0xc4: true}

// validateBitcoin accepts base58check P2PKH/P2SH and segwit bech32 (v0) or
// bech32m (v1+) addresses, on mainnet (1…, 3…, bc1…) and testnet (m…, n…, 2…, tb1…).
func validateBitcoin(a string) (string, bool) {
	if lower := strings.ToLower(a); strings.HasPrefix(lower, "bc1") || strings.HasPrefix(lower, "tb1") {
		if !validSegwit(a) {
			return "", false
		}
		return lower, true
	}
	payload, ok := base58Check(a)
	if !ok || len(payload) != 21 || !bitcoinVersions[payload[0]] {
		return "", false
	}
	return a, true
}

// validateTron accepts base58check addresses of 21 bytes starting with 0x41 (T…).
func validateTron(a string) (string, bool) {
	payload, ok := base58Check(a)
	if !ok || len(payload) != 21 || payload[0] != 0x41 {
		return "", false
	}
	return a, true
}

// validateSolana accepts base58 strings that decode to a 32-byte public key.
func validateSolana(a string) (string, bool) {
	if len(a) < 32 || len(a) > 44 {
		return "", false
	}
	b, ok := base58Decode(a)
	if !ok || len(b) != 32 {
		return "", false
	}
	return a, true
}

// validateBank accepts an account number or IBAN: 6–34 letters and digits once
// spaces are removed. Something shaped like an IBAN (a country code then two check
// digits) must also pass the ISO 13616 mod-97 check, which catches typos.
func validateBank(a string) (string, bool) {
	s := strings.ToUpper(strings.ReplaceAll(a, " ", ""))
	if len(s) < bankAccountLenMin || len(s) > bankAccountLenMax {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	if len(s) >= 15 && isLetter(s[0]) && isLetter(s[1]) && isDigit(s[2]) && isDigit(s[3]) && ValidCountry(s[:2]) {
		if !ibanChecksumOK(s) {
			return "", false
		}
	}
	return s, true
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// ibanChecksumOK moves the first four characters to the end, reads letters as
// 10–35 and checks that the number is 1 modulo 97.
func ibanChecksumOK(s string) bool {
	r := s[4:] + s[:4]
	mod := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		if isDigit(c) {
			mod = (mod*10 + int(c-'0')) % 97
		} else {
			v := int(c-'A') + 10
			mod = (mod*100 + v) % 97
		}
	}
	return mod == 1
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// base58Decode decodes a bitcoin-alphabet base58 string; each leading '1' is a
// leading zero byte. Inputs are bounded by addressLenMax, so the quadratic
// big-number loop stays small.
func base58Decode(s string) ([]byte, bool) {
	if s == "" || len(s) > addressLenMax {
		return nil, false
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// log(58)/log(256) ≈ 0.733, so len(s) bytes always suffice.
	buf := make([]byte, len(s))
	size := 0
	for i := zeros; i < len(s); i++ {
		carry := int(base58Index[s[i]])
		if carry < 0 {
			return nil, false
		}
		for j := 0; j < size || carry != 0; j++ {
			if j >= len(buf) {
				return nil, false
			}
			carry += 58 * int(buf[len(buf)-1-j])
			buf[len(buf)-1-j] = byte(carry)
			carry >>= 8
			if j+1 > size {
				size = j + 1
			}
		}
	}
	out := make([]byte, zeros+size)
	copy(out[zeros:], buf[len(buf)-size:])
	return out, true
}

// base58Check decodes s and verifies its 4-byte double-SHA-256 checksum, returning
// the payload (version byte included).
func base58Check(s string) ([]byte, bool) {
	b, ok := base58Decode(s)
	if !ok || len(b) < 5 {
		return nil, false
	}
	payload, sum := b[:len(b)-4], b[len(b)-4:]
	first := sha256.Sum256(payload)
	second := sha256.Sum256(first[:])
	if string(second[:4]) != string(sum) {
		return nil, false
	}
	return payload, true
}

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// Checksum constants of BIP-173 (bech32) and BIP-350 (bech32m).
const (
	bech32Const  = 1
	bech32mConst = 0x2bc830a3
)

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// bech32Decode splits s into its human-readable part and 5-bit data (checksum
// removed) and reports which checksum constant it carries.
func bech32Decode(s string) (hrp string, data []byte, constant uint32, ok bool) {
	if len(s) > bech32LenMax || (strings.ToLower(s) != s && strings.ToUpper(s) != s) {
		return "", nil, 0, false // mixed case is forbidden
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, 0, false
	}
	hrp = s[:pos]
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, 0, false
		}
	}
	for i := pos + 1; i < len(s); i++ {
		d := strings.IndexByte(bech32Charset, s[i])
		if d < 0 {
			return "", nil, 0, false
		}
		data = append(data, byte(d))
	}
	values := make([]byte, 0, 2*len(hrp)+1+len(data))
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]>>5)
	}
	values = append(values, 0)
	for i := 0; i < len(hrp); i++ {
		values = append(values, hrp[i]&31)
	}
	values = append(values, data...)
	return hrp, data[:len(data)-6], bech32Polymod(values), true
}

// convertBits regroups 5-bit groups into bytes, refusing non-zero padding.
func convertBits(data []byte) ([]byte, bool) {
	acc, bits := 0, 0
	var out []byte
	for _, v := range data {
		acc = acc<<5 | int(v)
		bits += 5
		for bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if bits >= 5 || (acc<<(8-bits))&0xff != 0 {
		return nil, false
	}
	return out, true
}

// validSegwit checks a segwit address per BIP-173 and BIP-350: hrp bc or tb;
// witness version 0 uses bech32 with a 20- or 32-byte program; versions 1–16 use
// bech32m with a 2–40-byte program.
func validSegwit(s string) bool {
	hrp, data, constant, ok := bech32Decode(s)
	if !ok || (hrp != "bc" && hrp != "tb") || len(data) < 1 {
		return false
	}
	version := data[0]
	program, ok := convertBits(data[1:])
	if !ok || version > 16 || len(program) < 2 || len(program) > 40 {
		return false
	}
	if version == 0 {
		return constant == bech32Const && (len(program) == 20 || len(program) == 32)
	}
	return constant == bech32mConst
}

// Wallet is an address a customer owns on a network, used to attribute incoming
// money and as a payout or refund destination.
type Wallet struct {
	ID        string
	Business  string
	Customer  string
	Network   string
	Address   string // normalised by ValidateAddress
	Label     string
	CreatedAt time.Time
}

// NewWallet validates a wallet for customer and returns it with a new id. Every
// invalid field is reported at once.
func NewWallet(business, customer, network, address, label string, now time.Time) (Wallet, error) {
	var errs FieldErrors
	var norm string
	if network == "" {
		errs.Add(CodeValidation, "network", "network is required")
	} else {
		var err error
		norm, err = ValidateAddress(network, address)
		var e *Error
		if errors.As(err, &e) {
			errs.Add(e.Code, e.Param, "%s", e.Message)
		}
	}
	label = strings.TrimSpace(label)
	if !utf8.ValidString(label) || utf8.RuneCountInString(label) > walletLabelLenMax {
		errs.Add(CodeValidation, "label", "label must be valid UTF-8 of at most %d characters", walletLabelLenMax)
	}
	if err := errs.Err(); err != nil {
		return Wallet{}, err
	}
	return Wallet{ID: NewID(PrefixWallet), Business: business, Customer: customer, Network: network,
		Address: norm, Label: label, CreatedAt: now}, nil
}
