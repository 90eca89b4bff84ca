package dashboard

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"golang.org/x/crypto/bcrypt"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// PrefixUser starts the id of a dashboard user; audit entries of dashboard changes
// carry it as their key_id.
const PrefixUser = "USR_"

// Password bounds: bcrypt reads at most 72 bytes, and a short password is refused.
const (
	passwordLenMin      = 12
	passwordBytesMax    = 72
	generatedPasswordBy = 18 // random bytes of a generated password (24 characters)
	bcryptCost          = bcrypt.DefaultCost
	emailLenMax         = 254
)

// Role is what a dashboard user may do.
type Role string

// Roles: an owner may change things; a viewer only reads.
const (
	RoleOwner  Role = "owner"
	RoleViewer Role = "viewer"
)

// User is a team member who signs in to the dashboard of one business.
type User struct {
	ID        string
	Business  string
	Email     string
	Role      Role
	CreatedAt time.Time
}

// CanWrite reports whether the user may make changes.
func (u User) CanWrite() bool { return u.Role == RoleOwner }

type userRow struct {
	bun.BaseModel `bun:"table:dashboard_users"`
	BusinessID    string    `bun:"business_id,pk"`
	ID            string    `bun:"id,pk"`
	Email         string    `bun:"email"`
	Role          string    `bun:"role"`
	PasswordHash  string    `bun:"password_hash"`
	CreatedAt     time.Time `bun:"created_at"`
}

func (r userRow) domain() User {
	return User{ID: r.ID, Business: r.BusinessID, Email: r.Email, Role: Role(r.Role), CreatedAt: r.CreatedAt.UTC()}
}

// CreateUser adds a team member to business and returns it with its password in
// plain text, shown once; an empty password is generated. Codes: not_found (no such
// business), validation_failed (email, role or password; an email that already
// has an account).
func CreateUser(ctx context.Context, store *postgres.Store, business, email string, role Role, password string) (User, string, error) {
	var errs ledger.FieldErrors
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) < 3 || len(email) > emailLenMax || !strings.Contains(email, "@") || !utf8.ValidString(email) {
		errs.Add(ledger.CodeValidation, "email", "email must be an email address of at most %d characters", emailLenMax)
	}
	if role != RoleOwner && role != RoleViewer {
		errs.Add(ledger.CodeValidation, "role", "role must be owner or viewer")
	}
	if password == "" {
		password = newPassword()
	} else if utf8.RuneCountInString(password) < passwordLenMin || len(password) > passwordBytesMax {
		errs.Add(ledger.CodeValidation, "password", "password must be %d characters to %d bytes", passwordLenMin, passwordBytesMax)
	}
	if err := errs.Err(); err != nil {
		return User{}, "", err
	}
	if _, err := store.FindBusiness(ctx, business); err != nil {
		return User{}, "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return User{}, "", err
	}
	row := userRow{BusinessID: business, ID: ledger.NewID(PrefixUser), Email: email, Role: string(role),
		PasswordHash: string(hash), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	_, err = store.DB().NewInsert().Model(&row).Exec(ctx)
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return User{}, "", ledger.ParamErrorf(ledger.CodeValidation, "email", "%s already has a dashboard account", email)
	}
	if err != nil {
		return User{}, "", err
	}
	return row.domain(), password, nil
}

func newPassword() string {
	b := make([]byte, generatedPasswordBy)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// dummyHash is compared against when the email is unknown, so a sign-in takes
// as long whether or not the account exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("tally-dashboard-no-such-user"), bcryptCost)

// checkPassword returns the user with email whose password matches, or
// unauthenticated for an unknown email and a wrong password alike.
func checkPassword(ctx context.Context, db bun.IDB, email, password string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var row userRow
	err := db.NewSelect().Model(&row).Where("email = ?", email).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, ledger.Errorf(ledger.CodeUnauthenticated, "wrong email or password")
	}
	if err != nil {
		return User{}, err
	}
	if len(password) > passwordBytesMax || bcrypt.CompareHashAndPassword([]byte(row.PasswordHash), []byte(password)) != nil {
		return User{}, ledger.Errorf(ledger.CodeUnauthenticated, "wrong email or password")
	}
	return row.domain(), nil
}

// findUser loads a signed-in user on every request, so a deleted account or a
// changed role takes effect at once.
func findUser(ctx context.Context, db bun.IDB, business, id string) (User, error) {
	var row userRow
	err := db.NewSelect().Model(&row).Where("business_id = ? AND id = ?", business, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ledger.Errorf(ledger.CodeUnauthenticated, "session user no longer exists")
	}
	return row.domain(), err
}
