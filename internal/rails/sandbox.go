// Package rails holds the money rails Tally talks to. The sandbox rail is built
// in: it derives deposit addresses and settles sandbox payouts by itself.
package rails

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// Sandbox derives deterministic, syntactically valid deposit addresses from an
// address id: the same id always gives the same address, and different ids give
// different addresses (the database's unique index catches the astronomically
// unlikely collision).
type Sandbox struct{}

// Address returns the deposit address for id on network.
func (Sandbox) Address(network, id string) (string, error) {
	seed := sha256.Sum256([]byte("tally-sandbox\x00" + network + "\x00" + id))
	switch network {
	case "ethereum", "base", "polygon":
		return "0x" + hex.EncodeToString(seed[:20]), nil
	case "bitcoin":
		return bech32Segwit("bc", 0, seed[:20])
	case "tron":
		return base58Check(append([]byte{0x41}, seed[:20]...)), nil
	case "solana":
		return base58(seed[:]), nil
	case "bank":
		// A 10-digit virtual account reference, as Nigerian NUBAN-style banks use.
		n := new(big.Int).SetBytes(seed[:8])
		n.Mod(n, big.NewInt(9_000_000_000))
		n.Add(n, big.NewInt(1_000_000_000))
		return n.String(), nil
	}
	return "", fmt.Errorf("sandbox rail: unknown network %q", network)
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func base58(b []byte) string {
	n := new(big.Int).SetBytes(b)
	var out []byte
	mod := new(big.Int)
	base := big.NewInt(58)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func base58Check(payload []byte) string {
	h1 := sha256.Sum256(payload)
	h2 := sha256.Sum256(h1[:])
	return base58(append(append([]byte{}, payload...), h2[:4]...))
}

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

func bech32Polymod(values []byte) uint32 {
	gen := []uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
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

// bech32Segwit encodes a segwit address (bech32 for version 0, BIP-173).
func bech32Segwit(hrp string, version byte, program []byte) (string, error) {
	if version != 0 {
		return "", fmt.Errorf("only witness version 0 is derived")
	}
	data := []byte{version}
	acc, bits := 0, 0
	for _, b := range program {
		acc = acc<<8 | int(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			data = append(data, byte(acc>>bits&31))
		}
	}
	if bits > 0 {
		data = append(data, byte(acc<<(5-bits)&31))
	}
	var exp []byte
	for _, c := range hrp {
		exp = append(exp, byte(c>>5))
	}
	exp = append(exp, 0)
	for _, c := range hrp {
		exp = append(exp, byte(c&31))
	}
	values := append(append(exp, data...), 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values) ^ 1
	var sb strings.Builder
	sb.WriteString(hrp + "1")
	for _, d := range data {
		sb.WriteByte(bech32Charset[d])
	}
	for i := 0; i < 6; i++ {
		sb.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return sb.String(), nil
}
