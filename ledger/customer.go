package ledger

import (
	"maps"
	"net/mail"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// CustomerType is individual or business.
type CustomerType string

// Customer types.
const (
	CustomerIndividual CustomerType = "individual"
	CustomerBusiness   CustomerType = "business"
)

// CustomerStatus is the lifecycle state of a customer.
type CustomerStatus string

// Customer statuses: suspended customers receive money but cannot send it; closed
// customers hold nothing and do nothing.
const (
	CustomerActive    CustomerStatus = "active"
	CustomerSuspended CustomerStatus = "suspended"
	CustomerClosed    CustomerStatus = "closed"
)

// KYC statuses a business may set.
var kycStatuses = map[string]bool{"unverified": true, "pending": true, "verified": true, "rejected": true}

// Limits on customer fields.
const (
	metadataKeysMax     = 50
	metadataKeyLenMax   = 40
	metadataValueLenMax = 500
	nameLenMax          = 100
	emailLenMax         = 254
	textLenMax          = 255
	noteLenMax          = 5000
)

// Address is a postal address.
type Address struct {
	Line1      string
	Line2      string
	City       string
	State      string
	PostalCode string
	Country    string
}

// Customer is an end-customer of a business: a profile with its own balances.
type Customer struct {
	ID           string
	Business     string
	Type         CustomerType
	Status       CustomerStatus
	KYCStatus    string
	ExternalID   string
	Email        string
	FirstName    string
	LastName     string
	BusinessName string
	Phone        string
	BirthDate    string
	TaxID        string
	Address      *Address
	Country      string
	Note         string
	Metadata     map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// CustomerPatch is a create or partial update: nil fields are left alone. On create,
// Type, Email and the names are required.
type CustomerPatch struct {
	Type         *string
	Status       *string
	KYCStatus    *string
	ExternalID   *string
	Email        *string
	FirstName    *string
	LastName     *string
	BusinessName *string
	Phone        *string
	BirthDate    *string
	TaxID        *string
	Address      *Address
	Country      *string
	Note         *string
	Metadata     map[string]string
}

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	phoneStrip = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")
)

// NewCustomer validates p as a create request and returns the customer it describes.
func NewCustomer(business string, p CustomerPatch, now time.Time) (Customer, error) {
	c := Customer{
		ID: NewID(PrefixCustomer), Business: business, Status: CustomerActive,
		KYCStatus: "unverified", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now,
	}
	var errs FieldErrors
	if p.Type == nil || *p.Type == "" {
		errs.Add(CodeValidation, "type", "type is required (individual or business)")
	}
	if p.Email == nil || *p.Email == "" {
		errs.Add(CodeValidation, "email", "email is required")
	}
	if p.Status != nil && *p.Status != string(CustomerActive) {
		errs.Add(CodeValidation, "status", "a new customer is active; suspend it with PATCH afterwards")
	}
	c.apply(p, &errs, true)
	if err := errs.Err(); err != nil {
		return Customer{}, err
	}
	return c, nil
}

// Patch applies a partial update to c (metadata merges; a key set to "" is removed)
// and reports whether anything changed. UpdatedAt moves only on a change, so a
// PATCH that repeats the stored values is a no-op. A closed customer is
// invalid_state; PATCH cannot close (DELETE does), change the type, or clear the
// email or the names the type requires.
func (c *Customer) Patch(p CustomerPatch, now time.Time) (bool, error) {
	var errs FieldErrors
	if c.Status == CustomerClosed {
		return false, Errorf(CodeInvalidState, "customer %s is closed and cannot be changed", c.ID)
	}
	if p.Status != nil && *p.Status == string(CustomerClosed) {
		errs.Add(CodeValidation, "status", "close a customer with DELETE /v1/customers/{id}")
	}
	if p.Type != nil && *p.Type != string(c.Type) {
		errs.Add(CodeValidation, "type", "type cannot be changed")
	}
	if p.Email != nil && strings.TrimSpace(*p.Email) == "" {
		errs.Add(CodeValidation, "email", "email cannot be removed")
	}
	next := c.Clone()
	next.apply(p, &errs, false)
	if err := errs.Err(); err != nil {
		return false, err
	}
	next.UpdatedAt = c.UpdatedAt
	if reflect.DeepEqual(next, *c) {
		return false, nil
	}
	next.UpdatedAt = now
	*c = next
	return true, nil
}

// Clone returns a copy of c that shares no map or pointer with it.
func (c Customer) Clone() Customer {
	c.Metadata = maps.Clone(c.Metadata)
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	if c.Address != nil {
		a := *c.Address
		c.Address = &a
	}
	return c
}

// Close marks c closed. The caller checks first that every balance is zero. It
// reports false when c was already closed: closing is idempotent and the second
// close changes nothing.
func (c *Customer) Close(now time.Time) bool {
	if c.Status == CustomerClosed {
		return false
	}
	c.Status, c.UpdatedAt = CustomerClosed, now
	return true
}

// apply validates and copies every set field of p into c. On create it also checks
// the names the type requires.
func (c *Customer) apply(p CustomerPatch, errs *FieldErrors, create bool) {
	str := func(param string, v *string, max int, dst *string) {
		if v == nil {
			return
		}
		s := strings.TrimSpace(*v)
		if !validText(s) || utf8.RuneCountInString(s) > max {
			errs.Add(CodeValidation, param, "%s must be valid UTF-8 of at most %d characters", param, max)
			return
		}
		*dst = s
	}
	if p.Type != nil && create {
		switch CustomerType(*p.Type) {
		case CustomerIndividual, CustomerBusiness:
			c.Type = CustomerType(*p.Type)
		default:
			if *p.Type != "" {
				errs.Add(CodeValidation, "type", "type must be individual or business")
			}
		}
	}
	if p.Status != nil && (*p.Status == string(CustomerActive) || *p.Status == string(CustomerSuspended)) {
		c.Status = CustomerStatus(*p.Status)
	} else if p.Status != nil && *p.Status != string(CustomerClosed) {
		errs.Add(CodeValidation, "status", "status must be active or suspended")
	}
	if p.KYCStatus != nil {
		if kycStatuses[*p.KYCStatus] {
			c.KYCStatus = *p.KYCStatus
		} else {
			errs.Add(CodeValidation, "kyc_status", "kyc_status must be unverified, pending, verified or rejected")
		}
	}
	if p.Email != nil && *p.Email != "" {
		e := strings.TrimSpace(*p.Email)
		addr, err := mail.ParseAddress(e)
		if err != nil || addr.Address != e || len(e) > emailLenMax || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") {
			errs.Add(CodeValidation, "email", "email must be a valid address such as ada@example.com")
		} else {
			c.Email = strings.ToLower(e)
		}
	}
	str("external_id", p.ExternalID, textLenMax, &c.ExternalID)
	str("first_name", p.FirstName, nameLenMax, &c.FirstName)
	str("last_name", p.LastName, nameLenMax, &c.LastName)
	str("business_name", p.BusinessName, textLenMax, &c.BusinessName)
	str("tax_id", p.TaxID, 64, &c.TaxID)
	str("note", p.Note, noteLenMax, &c.Note)
	if p.Phone != nil {
		ph := phoneStrip.Replace(strings.TrimSpace(*p.Phone))
		if ph != "" && !e164.MatchString(ph) {
			errs.Add(CodeValidation, "phone", "phone must be in E.164 form, e.g. +2348012345678")
		} else {
			c.Phone = ph
		}
	}
	if p.BirthDate != nil {
		if d := *p.BirthDate; d != "" {
			t, err := time.Parse("2006-01-02", d)
			if err != nil || t.After(time.Now()) || t.Year() < 1900 {
				errs.Add(CodeValidation, "birth_date", "birth_date must be a past date in the form YYYY-MM-DD")
			} else {
				c.BirthDate = d
			}
		} else {
			c.BirthDate = ""
		}
	}
	if p.Country != nil {
		if cc := strings.ToUpper(strings.TrimSpace(*p.Country)); cc == "" || ValidCountry(cc) {
			c.Country = cc
		} else {
			errs.Add(CodeValidation, "country", "country must be an ISO 3166-1 alpha-2 code such as NG")
		}
	}
	if p.Address != nil {
		a := *p.Address
		for param, v := range map[string]*string{"address.line1": &a.Line1, "address.line2": &a.Line2, "address.city": &a.City,
			"address.state": &a.State, "address.postal_code": &a.PostalCode} {
			if utf8.RuneCountInString(*v) > textLenMax || !validText(*v) {
				errs.Add(CodeValidation, param, "%s must be at most %d characters", param, textLenMax)
			}
		}
		a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
		if a.Country != "" && !ValidCountry(a.Country) {
			errs.Add(CodeValidation, "address.country", "address.country must be an ISO 3166-1 alpha-2 code")
		}
		c.Address = &a
	}
	if p.Metadata != nil {
		mergeMetadata(c.Metadata, p.Metadata, errs)
	}
	if create || p.FirstName != nil || p.LastName != nil || p.BusinessName != nil {
		if c.Type == CustomerIndividual {
			if c.FirstName == "" {
				errs.Add(CodeValidation, "first_name", "first_name is required for an individual")
			}
			if c.LastName == "" {
				errs.Add(CodeValidation, "last_name", "last_name is required for an individual")
			}
		}
		if c.Type == CustomerBusiness && c.BusinessName == "" {
			errs.Add(CodeValidation, "business_name", "business_name is required for a business")
		}
	}
}

// validText reports whether s is valid UTF-8 without NUL, which PostgreSQL text and
// jsonb cannot store.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// mergeMetadata merges patch into dst: a key set to "" is removed.
func mergeMetadata(dst, patch map[string]string, errs *FieldErrors) {
	for k, v := range patch {
		switch {
		case k == "" || utf8.RuneCountInString(k) > metadataKeyLenMax || !validText(k):
			errs.Add(CodeValidation, "metadata", "metadata keys must be 1 to %d characters", metadataKeyLenMax)
		case utf8.RuneCountInString(v) > metadataValueLenMax || !validText(v):
			errs.Add(CodeValidation, "metadata", "metadata values must be at most %d characters", metadataValueLenMax)
		case v == "":
			delete(dst, k)
		default:
			dst[k] = v
		}
	}
	if len(dst) > metadataKeysMax {
		errs.Add(CodeValidation, "metadata", "metadata may hold at most %d keys", metadataKeysMax)
	}
}

// ValidateMetadata checks a metadata map of another resource (payouts, transfers).
func ValidateMetadata(m map[string]string) (map[string]string, error) {
	var errs FieldErrors
	out := map[string]string{}
	mergeMetadata(out, m, &errs)
	return out, errs.Err()
}

// Limits on list filters.
const searchLenMax = 100

// CustomerFilter narrows a customer list or export. Zero fields match everything.
type CustomerFilter struct {
	Query         string // case-insensitive substring of email, names, business name, phone, external id
	Type          CustomerType
	Status        CustomerStatus
	KYCStatus     string
	Email         string // exact, lowercased like stored emails
	ExternalID    string // exact
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// ParseCustomerFilter reads the filters of API.md §4 through get (a query-string
// lookup returning "" when absent) and validates every one, reporting all invalid
// filters at once. Values are copied, so the filter outlives the request buffers.
func ParseCustomerFilter(get func(name string) string) (CustomerFilter, error) {
	var f CustomerFilter
	var errs FieldErrors
	text := func(name string, max int) string {
		v := strings.Clone(get(name))
		if !validText(v) || utf8.RuneCountInString(v) > max {
			errs.Add(CodeValidation, name, "%s must be valid UTF-8 of at most %d characters", name, max)
			return ""
		}
		return v
	}
	f.Query = strings.TrimSpace(text("q", searchLenMax))
	if v := text("type", textLenMax); v != "" {
		if t := CustomerType(v); t == CustomerIndividual || t == CustomerBusiness {
			f.Type = t
		} else {
			errs.Add(CodeValidation, "type", "type must be individual or business")
		}
	}
	if v := text("status", textLenMax); v != "" {
		if st := CustomerStatus(v); st == CustomerActive || st == CustomerSuspended || st == CustomerClosed {
			f.Status = st
		} else {
			errs.Add(CodeValidation, "status", "status must be active, suspended or closed")
		}
	}
	if v := text("kyc_status", textLenMax); v != "" {
		if kycStatuses[v] {
			f.KYCStatus = v
		} else {
			errs.Add(CodeValidation, "kyc_status", "kyc_status must be unverified, pending, verified or rejected")
		}
	}
	f.Email = strings.ToLower(strings.TrimSpace(text("email", emailLenMax)))
	f.ExternalID = strings.TrimSpace(text("external_id", textLenMax))
	for _, tf := range []struct {
		name string
		dst  **time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		v := get(tf.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs.Add(CodeValidation, tf.name, "%s must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z", tf.name)
			continue
		}
		t = t.UTC()
		*tf.dst = &t
	}
	if f.CreatedAfter != nil && f.CreatedBefore != nil && !f.CreatedAfter.Before(*f.CreatedBefore) {
		errs.Add(CodeValidation, "created_before", "created_before must be later than created_after")
	}
	if err := errs.Err(); err != nil {
		return CustomerFilter{}, err
	}
	return f, nil
}
