package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// statusByCode is the one table from error codes to HTTP statuses.
var statusByCode = map[ledger.Code]int{
	ledger.CodeUnauthenticated:     fiber.StatusUnauthorized,
	ledger.CodeForbidden:           fiber.StatusForbidden,
	ledger.CodeProfileNotFound:     fiber.StatusNotFound,
	ledger.CodeProfileInactive:     fiber.StatusForbidden,
	ledger.CodeNotFound:            fiber.StatusNotFound,
	ledger.CodeInvalidJSON:         fiber.StatusBadRequest,
	ledger.CodeUnknownField:        fiber.StatusBadRequest,
	ledger.CodeValidation:          fiber.StatusBadRequest,
	ledger.CodeAmountInvalid:       fiber.StatusBadRequest,
	ledger.CodeAmountPrecision:     fiber.StatusBadRequest,
	ledger.CodeCurrencyUnsupported: fiber.StatusBadRequest,
	ledger.CodeNetworkUnsupported:  fiber.StatusBadRequest,
	ledger.CodeInvalidAddress:      fiber.StatusBadRequest,
	ledger.CodeInsufficientFunds:   fiber.StatusUnprocessableEntity,
	ledger.CodeBelowMinimum:        fiber.StatusUnprocessableEntity,
	ledger.CodeHighRiskAddress:     fiber.StatusUnprocessableEntity,
	ledger.CodeTravelRule:          fiber.StatusUnprocessableEntity,
	ledger.CodeCustomerExists:      fiber.StatusConflict,
	ledger.CodeWalletExists:        fiber.StatusConflict,
	ledger.CodeBalanceNotZero:      fiber.StatusConflict,
	ledger.CodeQuoteExpired:        fiber.StatusUnprocessableEntity,
	ledger.CodeQuoteUsed:           fiber.StatusConflict,
	ledger.CodeInvalidState:        fiber.StatusConflict,
	ledger.CodeIdempotencyReused:   fiber.StatusUnprocessableEntity,
	ledger.CodeIdempotencyInUse:    fiber.StatusConflict,
	ledger.CodePayloadTooLarge:     fiber.StatusRequestEntityTooLarge,
	ledger.CodeUnsupportedMedia:    fiber.StatusUnsupportedMediaType,
	ledger.CodeRateLimited:         fiber.StatusTooManyRequests,
	ledger.CodeUnavailable:         fiber.StatusServiceUnavailable,
	ledger.CodeInternal:            fiber.StatusInternalServerError,
}

// nameByStatus is error.name: the HTTP class of the failure.
var nameByStatus = map[int]string{
	400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
	409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable",
	429: "rate_limited", 431: "bad_request", 500: "internal", 503: "service_unavailable",
}

// codeByFiberStatus maps errors raised by Fiber itself (unknown route, body limit).
var codeByFiberStatus = map[int]ledger.Code{
	fiber.StatusNotFound:                    ledger.CodeNotFound,
	fiber.StatusMethodNotAllowed:            ledger.CodeNotFound,
	fiber.StatusRequestEntityTooLarge:       ledger.CodePayloadTooLarge,
	fiber.StatusUnsupportedMediaType:        ledger.CodeUnsupportedMedia,
	fiber.StatusRequestHeaderFieldsTooLarge: ledger.CodeValidation,
	fiber.StatusRequestTimeout:              ledger.CodeUnavailable,
	fiber.StatusServiceUnavailable:          ledger.CodeUnavailable,
	fiber.StatusTooManyRequests:             ledger.CodeRateLimited,
}

type errorBody struct {
	Name      string            `json:"name"`
	Code      ledger.Code       `json:"code"`
	Message   string            `json:"message"`
	Param     string            `json:"param,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id"`
	// Extra facts such as the id of an existing customer.
	CustomerID string `json:"customer_id,omitempty"`
}

type errorEnvelope struct {
	Status  string    `json:"status"`
	Message string    `json:"message"`
	Error   errorBody `json:"error"`
}

// errorHandler renders every error the app returns, including Fiber's own, in the
// envelope of API.md §3. Internal errors are logged with the request id and
// answered with a fixed message.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	reqID := requestID(c)
	var le *ledger.Error
	var fe *fiber.Error
	code := ledger.CodeInternal
	msg := "An internal error occurred; it has been logged with the request id."
	status := fiber.StatusInternalServerError
	var param string
	var fields map[string]string
	var customerID string
	switch {
	case errors.As(err, &le):
		code, msg, param, fields = le.Code, le.Message, le.Param, le.Fields
		if id, ok := le.Details["customer_id"].(string); ok {
			customerID = id
		}
		status = statusByCode[code]
		if status == 0 {
			status = fiber.StatusInternalServerError
		}
	case errors.As(err, &fe):
		status = fe.Code
		if c, ok := codeByFiberStatus[fe.Code]; ok {
			code = c
		} else if fe.Code < 500 {
			code = ledger.CodeValidation
		}
		msg = fe.Message
		switch fe.Code {
		case fiber.StatusNotFound, fiber.StatusMethodNotAllowed:
			status, msg = fiber.StatusNotFound, "No such route: "+c.Method()+" "+c.Path()
		case fiber.StatusRequestEntityTooLarge:
			msg = "The request body exceeds 1 MiB."
		}
	case postgres.Unavailable(err):
		status, code = fiber.StatusServiceUnavailable, ledger.CodeUnavailable
		msg = "The database is unavailable; retry with the same Idempotency-Key."
		s.log.Warn("database unavailable", "request_id", reqID, "err", err.Error())
	}
	if status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "1") // every 503 is worth retrying soon: busy, or the database away
	}
	if status >= 500 && code == ledger.CodeInternal {
		s.log.Error("internal error", "request_id", reqID, "method", c.Method(), "path", c.Path(), "err", err.Error())
	}
	name := nameByStatus[status]
	if name == "" {
		name = "bad_request"
	}
	return c.Status(status).JSON(errorEnvelope{Status: "error", Message: msg, Error: errorBody{
		Name: name, Code: code, Message: msg, Param: param, Fields: fields, RequestID: reqID, CustomerID: customerID,
	}})
}
