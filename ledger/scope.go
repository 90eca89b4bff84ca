package ledger

// Scope is the profile a request acts for: the business's main profile when
// Customer is nil, else one of its customers.
type Scope struct {
	Business Business
	Customer *Customer
}

// ProfileID is the id that owns the scope's balances: BUS_… or CUS_….
func (s Scope) ProfileID() string {
	if s.Customer != nil {
		return s.Customer.ID
	}
	return s.Business.ID
}

// CanDebit returns profile_inactive when the scope's customer may not send money out.
// The business's main profile is always active.
func (s Scope) CanDebit() error {
	if s.Customer != nil && s.Customer.Status != CustomerActive {
		return Errorf(CodeProfileInactive, "customer %s is %s and cannot send money", s.Customer.ID, s.Customer.Status)
	}
	return nil
}
