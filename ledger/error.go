package ledger

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable reason for a failure. The API renders it as
// error.code; the HTTP status is derived from it in one table in internal/api.
type Code string

// The codes of API.md §9.
const (
	CodeUnauthenticated     Code = "unauthenticated"
	CodeForbidden           Code = "forbidden"
	CodeProfileNotFound     Code = "profile_not_found"
	CodeProfileInactive     Code = "profile_inactive"
	CodeNotFound            Code = "not_found"
	CodeInvalidJSON         Code = "invalid_json"
	CodeUnknownField        Code = "unknown_field"
	CodeValidation          Code = "validation_failed"
	CodeAmountInvalid       Code = "amount_invalid"
	CodeAmountPrecision     Code = "amount_precision"
	CodeCurrencyUnsupported Code = "currency_unsupported"
	CodeNetworkUnsupported  Code = "network_unsupported"
	CodeInvalidAddress      Code = "invalid_address"
	CodeInsufficientFunds   Code = "insufficient_funds"
	CodeBelowMinimum        Code = "amount_below_minimum"
	CodeHighRiskAddress     Code = "high_risk_address"
	CodeTravelRule          Code = "travel_rule_required"
	CodeCustomerExists      Code = "customer_exists"
	CodeWalletExists        Code = "wallet_exists"
	CodeBalanceNotZero      Code = "balance_not_zero"
	CodeQuoteExpired        Code = "quote_expired"
	CodeQuoteUsed           Code = "quote_used"
	CodeInvalidState        Code = "invalid_state"
	CodeIdempotencyReused   Code = "idempotency_key_reused"
	CodeIdempotencyInUse    Code = "idempotency_key_in_use"
	CodePayloadTooLarge     Code = "payload_too_large"
	CodeUnsupportedMedia    Code = "unsupported_media_type"
	CodeRateLimited         Code = "rate_limited"
	CodeUnavailable         Code = "service_unavailable"
	CodeInternal            Code = "internal"
)

// Error is a failure whose Message is safe to show to API users. Param names the
// offending input; Fields names every offending input with its own message.
type Error struct {
	Code    Code
	Message string
	Param   string
	Fields  map[string]string
	// Details carries extra machine-readable facts (e.g. the existing customer id).
	Details map[string]any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted, user-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ParamErrorf returns an *Error that names the offending input.
func ParamErrorf(code Code, param, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: code, Message: msg, Param: param, Fields: map[string]string{param: msg}}
}

// ErrorCode returns the code of err, CodeInternal unless err wraps an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// FieldErrors collects every invalid field of one request, so a client learns all of
// its mistakes at once.
type FieldErrors struct {
	first  string
	code   Code
	fields map[string]string
}

// Add records a problem with param. The first problem decides the code and param.
func (f *FieldErrors) Add(code Code, param, format string, args ...any) {
	if f.fields == nil {
		f.fields = map[string]string{}
		f.first = param
		f.code = code
	}
	if _, seen := f.fields[param]; !seen {
		f.fields[param] = fmt.Sprintf(format, args...)
	}
}

// AddErr records err under param when it is not nil, keeping its code.
func (f *FieldErrors) AddErr(param string, err error) {
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) {
		f.Add(e.Code, param, "%s", e.Message)
		return
	}
	f.Add(CodeValidation, param, "%s", err.Error())
}

// Err returns nil when nothing was added, else one *Error naming every field.
func (f *FieldErrors) Err() error {
	if f.fields == nil {
		return nil
	}
	msg := f.fields[f.first]
	if len(f.fields) > 1 {
		msg = fmt.Sprintf("%s (and %d more invalid fields)", msg, len(f.fields)-1)
	}
	return &Error{Code: f.code, Message: msg, Param: f.first, Fields: f.fields}
}

// ErrorParam returns the offending input named by err, or "".
func ErrorParam(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Param
	}
	return ""
}
