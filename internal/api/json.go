package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/ledger"
)

// jsonDepthMax bounds nesting of request bodies; none of ours nests deeper than 4.
const jsonDepthMax = 32

// decode parses the request body into dst strictly: valid UTF-8, well-formed JSON,
// one object, bounded depth, and no field dst does not know (catches "amont").
func decode(c *fiber.Ctx, dst any) error {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return ledger.Errorf(ledger.CodeInvalidJSON, "the request body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return ledger.Errorf(ledger.CodeInvalidJSON, "the request body is not valid UTF-8")
	}
	if depth(body) > jsonDepthMax {
		return ledger.Errorf(ledger.CodeInvalidJSON, "the request body nests deeper than %d levels", jsonDepthMax)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ledger.Errorf(ledger.CodeInvalidJSON, "the request body must hold exactly one JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ledger.Errorf(ledger.CodeInvalidJSON, "the request body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return ledger.Errorf(ledger.CodeInvalidJSON, "the request body must be a JSON object")
		}
		return ledger.ParamErrorf(ledger.CodeValidation, field, "%s must be a %s", field, jsonKind(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return ledger.ParamErrorf(ledger.CodeUnknownField, field, "unknown field %q", field)
	}
	return ledger.Errorf(ledger.CodeInvalidJSON, "the request body is not valid JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice":
		return "array"
	}
	return k
}

// depth returns the maximum nesting of brackets outside strings.
func depth(b []byte) int {
	d, max, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

type envelope struct {
	Status     string      `json:"status"`
	Message    string      `json:"message"`
	Data       any         `json:"data"`
	Pagination *pagination `json:"pagination,omitempty"`
}

type pagination struct {
	Limit      int     `json:"limit"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

// ok renders the success envelope.
func ok(c *fiber.Ctx, status int, message string, data any) error {
	return c.Status(status).JSON(envelope{Status: "success", Message: message, Data: data})
}

// okList renders a page of a list with its pagination.
func okList(c *fiber.Ctx, message string, data any, limit int, next string) error {
	p := &pagination{Limit: limit, HasMore: next != ""}
	if next != "" {
		p.NextCursor = &next
	}
	return c.Status(fiber.StatusOK).JSON(envelope{Status: "success", Message: message, Data: data, Pagination: p})
}

// pageParams reads limit (1–100, default 20) and cursor.
func pageParams(c *fiber.Ctx) (ledger.Page, error) {
	p := ledger.Page{Limit: pageSizeDefault}
	if v := c.Query("limit"); v != "" {
		n, err := parseInt(v)
		if err != nil || n < 1 || n > pageSizeMax {
			return p, ledger.ParamErrorf(ledger.CodeValidation, "limit", "limit must be an integer from 1 to %d", pageSizeMax)
		}
		p.Limit = n
	}
	after, err := decodeCursor(c.Query("cursor"))
	p.After = after
	return p, err
}

func parseInt(s string) (int, error) {
	if len(s) == 0 || len(s) > 9 {
		return 0, errors.New("bad integer")
	}
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0, errors.New("bad integer")
		}
		n = n*10 + int(ch-'0')
	}
	return n, nil
}

// encodeCursor returns the opaque cursor after (t, id). A cursor names a position,
// not a row, so it stays valid when that row is deleted or changes.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// decodeCursor parses a cursor; a malformed one is validation_failed on "cursor".
func decodeCursor(s string) (*ledger.Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := ledger.ParamErrorf(ledger.CodeValidation, "cursor", "cursor is not valid; use next_cursor from a previous page")
	if len(s) > 200 {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ts, id, found := strings.Cut(string(raw), "|")
	if !found || id == "" || len(id) > 64 {
		return nil, bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, bad
	}
	return &ledger.Cursor{CreatedAt: t, ID: id}, nil
}

// parseTimeFilter reads an RFC 3339 query parameter such as created_after.
func parseTimeFilter(c *fiber.Ctx, name string) (*time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, ledger.ParamErrorf(ledger.CodeValidation, name, "%s must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z", name)
	}
	return &t, nil
}

// rfc3339 renders timestamps in UTC.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func rfc3339Ptr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := rfc3339(*t)
	return &s
}
