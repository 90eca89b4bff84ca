package ledger

import "time"

// Cursor is a keyset position in a list ordered newest first by (created_at, id):
// the next page starts strictly after it.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Page asks for at most Limit rows after the cursor (nil: the first page).
type Page struct {
	Limit int
	After *Cursor
}
