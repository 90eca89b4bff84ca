package postgres

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The set-based writes (RecordMany, insertTransfers, flush) pass every column as
// an array parameter: a batch of 1,000 transfers sends ~40 arrays and ~25,000
// elements. pgx encodes a []string by boxing each element into an interface and
// planning its encoding through the generic array codec; for numeric[] it first
// tries the binary format, fails (formatting the whole slice into the error
// message) and then sends text. Those two paths were a fifth of the server's CPU
// under the batch load (docs/scaling.md §7, "Array parameters"). The codecs below encode
// the slices the store passes directly into PostgreSQL's wire formats; decoding,
// and every other Go type, stay with pgx's codecs.

// registerArrayCodecs wraps pgx's codecs of the array types the store writes
// (stdlib.OptionAfterConnect: once per connection).
func registerArrayCodecs(_ context.Context, c *pgx.Conn) error {
	m := c.TypeMap()
	for _, a := range []struct {
		name string
		elem uint32
		text bool
	}{
		{"_text", pgtype.TextOID, false},
		{"_jsonb", pgtype.JSONBOID, false},
		{"_timestamptz", pgtype.TimestamptzOID, false},
		{"_numeric", pgtype.NumericOID, true},
	} {
		t, ok := m.TypeForName(a.name)
		if !ok {
			continue
		}
		m.RegisterType(&pgtype.Type{Name: t.Name, OID: t.OID, Codec: &arrayCodec{Codec: t.Codec, elem: a.elem, text: a.text}})
	}
	return nil
}

// arrayCodec encodes []string and []*string (and []time.Time for timestamptz[])
// itself: binary arrays for text, jsonb and timestamptz, a text array literal for
// numeric (the store holds amounts as decimal strings; PostgreSQL parses them as
// it parses any numeric literal). Everything else goes to the wrapped codec.
type arrayCodec struct {
	pgtype.Codec
	elem uint32
	text bool // numeric[]: the text format is the one this codec writes
}

func (c *arrayCodec) PreferredFormat() int16 {
	if c.text {
		return pgtype.TextFormatCode
	}
	return c.Codec.PreferredFormat()
}

func (c *arrayCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	switch value.(type) {
	case []string, []*string:
		if c.elem == pgtype.TimestamptzOID {
			break
		}
		if c.text && format == pgtype.TextFormatCode {
			return textArrayLiteralPlan{}
		}
		if !c.text && format == pgtype.BinaryFormatCode {
			return binaryArrayPlan{elem: c.elem}
		}
	case []time.Time:
		if c.elem == pgtype.TimestamptzOID && format == pgtype.BinaryFormatCode {
			return binaryArrayPlan{elem: c.elem}
		}
	}
	return c.Codec.PlanEncode(m, oid, format, value)
}

// binaryArrayPlan writes a one-dimensional array in array_recv's format: the
// number of dimensions, a has-nulls flag, the element type, the length and lower
// bound, then each element as a length (-1 for NULL) and its bytes.
type binaryArrayPlan struct{ elem uint32 }

func (p binaryArrayPlan) Encode(value any, buf []byte) ([]byte, error) {
	if times, ok := value.([]time.Time); ok {
		if times == nil {
			return nil, nil // a nil slice is NULL, as with pgx's own encoders
		}
		buf = appendArrayHeader(slices.Grow(buf, 20+12*len(times)), p.elem, len(times), false)
		for _, t := range times {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			buf = binary.BigEndian.AppendUint64(buf, uint64(microsecondsSince2000(t)))
		}
		return buf, nil
	}
	n, at := stringElems(value)
	if n < 0 {
		return nil, nil
	}
	size, nulls := 0, false // the elements' bytes, to grow buf once
	for i := 0; i < n; i++ {
		s, ok := at(i)
		nulls = nulls || !ok
		size += 5 + len(s)
	}
	buf = appendArrayHeader(slices.Grow(buf, 20+size), p.elem, n, nulls)
	for i := 0; i < n; i++ {
		s, ok := at(i)
		switch {
		case !ok:
			buf = binary.BigEndian.AppendUint32(buf, 0xFFFFFFFF) // -1: NULL
		case p.elem == pgtype.JSONBOID: // jsonb: its format version, 1, then the JSON text
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)+1))
			buf = append(append(buf, 1), s...)
		default:
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
			buf = append(buf, s...)
		}
	}
	return buf, nil
}

// appendArrayHeader writes the header of a one-dimensional array of n elements
// (none: no dimensions, an empty array).
func appendArrayHeader(buf []byte, elem uint32, n int, nulls bool) []byte {
	dims, hasNull := uint32(1), uint32(0)
	if n == 0 {
		dims = 0
	}
	if nulls {
		hasNull = 1
	}
	buf = binary.BigEndian.AppendUint32(buf, dims)
	buf = binary.BigEndian.AppendUint32(buf, hasNull)
	buf = binary.BigEndian.AppendUint32(buf, elem)
	if n == 0 {
		return buf
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	return binary.BigEndian.AppendUint32(buf, 1) // lower bound
}

// stringElems gives a []string's or a []*string's length and its elements (false:
// NULL); -1 for a nil slice or another type.
func stringElems(value any) (int, func(int) (string, bool)) {
	switch v := value.(type) {
	case []string:
		if v != nil {
			return len(v), func(i int) (string, bool) { return v[i], true }
		}
	case []*string:
		if v != nil {
			return len(v), func(i int) (string, bool) {
				if v[i] == nil {
					return "", false
				}
				return *v[i], true
			}
		}
	}
	return -1, nil
}

// microsecondsSince2000 is timestamptz's binary value, truncated to the
// microsecond as pgx's own encoder does.
func microsecondsSince2000(t time.Time) int64 {
	const unixToY2K = 946684800 * 1000000
	return t.Unix()*1000000 + int64(t.Nanosecond())/1000 - unixToY2K
}

// textArrayLiteralPlan writes {"a","b",NULL}: every element quoted, so any
// content is safe; a backslash or a double quote inside is escaped.
type textArrayLiteralPlan struct{}

func (textArrayLiteralPlan) Encode(value any, buf []byte) ([]byte, error) {
	n, at := stringElems(value)
	if n < 0 {
		return nil, nil
	}
	buf = append(buf, '{')
	for i := 0; i < n; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		s, ok := at(i)
		if !ok {
			buf = append(buf, "NULL"...)
			continue
		}
		buf = append(buf, '"')
		if strings.ContainsAny(s, `"\`) {
			for j := 0; j < len(s); j++ {
				if s[j] == '"' || s[j] == '\\' {
					buf = append(buf, '\\')
				}
				buf = append(buf, s[j])
			}
		} else {
			buf = append(buf, s...)
		}
		buf = append(buf, '"')
	}
	return append(buf, '}'), nil
}
