package main

import (
	"context"
	"flag"
	"io"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/postgres"
)

// usersCmd manages dashboard team members: `tally users create --business BUS_…
// --email E --role owner|viewer [--password P]` prints {"id","email","role",
// "password"}; without --password one is generated, and this is the only time it
// is shown (only its bcrypt hash is stored).
func usersCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("users: want create")
	}
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	business := fs.String("business", "", "business id (BUS_…)")
	email := fs.String("email", "", "sign-in email")
	role := fs.String("role", "", "owner or viewer")
	password := fs.String("password", "", "password (generated when omitted)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *business == "" || *email == "" || *role == "" {
		return usagef("users create: --business, --email and --role are required")
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		u, pw, err := dashboard.CreateUser(ctx, s, *business, *email, dashboard.Role(*role), *password)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"id": u.ID, "email": u.Email, "role": string(u.Role), "password": pw})
	})
}
