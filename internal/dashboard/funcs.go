package dashboard

import (
	"html/template"
	"strings"
	"time"

	"github.com/tallyhq/tally/ledger"
)

// funcs are the template helpers; they format, never decide.
var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"tsp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04") + " UTC"
	},
	// isCustomer tells whether a profile id names a customer, so it can link to the profile.
	"isCustomer": func(id string) bool { return strings.HasPrefix(id, ledger.PrefixCustomer) },
	"join":       strings.Join,
	"list":       func(s ...string) []string { return s },
	"deref": func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	},
}
