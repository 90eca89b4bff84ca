package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Cross-process invalidation of the profile cache (issue 8). Without it a cached
// customer may be a second old (ProfileTTL), so at 1,000 customers and 3,600
// transfers/s a quarter of the requests read their customer again: a statement
// and a connection each, for a row that had not changed. The customers_notify
// trigger announces every committed change to a customer on profileChannel;
// WatchProfiles listens and forgets what it names, and the cache keeps a profile
// for ProfileTTLWatched while it does.

// profileChannel is the NOTIFY channel of the customers_notify trigger
// (migrations …0300_customers_notify, …0400_customers_notify_per_statement). A
// payload names one customer, '<business_id> <customer_id>', or is profileAll:
// a statement changed more than 100 customers, forget them all.
const (
	profileChannel = "tally_customer_changed"
	profileAll     = "*"
)

// profileWatchPing is how long the listener waits for a notification before it
// checks that its connection still answers.
const profileWatchPing = 5 * time.Second

// profileWatch is what WatchProfiles shares with the rest of the Store.
type profileWatch struct {
	pid atomic.Uint32 // the listening backend's process id; 0: not listening
}

// WatchProfiles keeps this process's profile cache in step with customer changes
// committed by any process, until ctx ends. It LISTENs on one connection of the
// login role's pool and forgets each customer the trigger names. While it
// listens, profiles are cached for ProfileTTLWatched; before it does and from the
// moment its connection fails until it listens again, for ProfileTTL. Every switch
// empties the cache, so nothing cached for the long TTL outlives the connection
// that would have invalidated it.
func (s *Store) WatchProfiles(ctx context.Context, log *slog.Logger) {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for {
		listened, err := s.watchProfiles(ctx, log)
		s.profiles.setTTL(ProfileTTL)
		if listened {
			backoff = firstBackoff // a new failure, not the same one again
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("profile cache: lost the change listener; profiles are cached for "+ProfileTTL.String()+" until it is back", "err", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchProfiles listens until its connection fails or ctx ends, and reports
// whether it got as far as listening. The connection is never returned to the
// pool: it may still be listening.
func (s *Store) watchProfiles(ctx context.Context, log *slog.Logger) (listened bool, _ error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var werr error
	_ = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+profileChannel); err != nil {
			werr = err
			return driver.ErrBadConn
		}
		listened = true
		s.profiles.setTTL(ProfileTTLWatched)
		s.watch.pid.Store(pc.PgConn().PID())
		defer s.watch.pid.Store(0)
		log.Info("profile cache: listening for customer changes", "channel", profileChannel, "backend_pid", pc.PgConn().PID())
		for {
			wctx, cancel := context.WithTimeout(ctx, profileWatchPing)
			n, err := pc.WaitForNotification(wctx)
			cancel()
			switch {
			case err == nil && n.Payload == profileAll:
				s.profiles.forget()
			case err == nil:
				business, id, ok := strings.Cut(n.Payload, " ")
				if !ok {
					werr = fmt.Errorf("unexpected payload %q on %s", n.Payload, profileChannel)
					return driver.ErrBadConn
				}
				s.profiles.forget(profileKey{business, id})
			case ctx.Err() != nil:
				werr = ctx.Err()
				return driver.ErrBadConn
			case errors.Is(err, context.DeadlineExceeded) && !pc.IsClosed():
				pctx, cancel := context.WithTimeout(ctx, profileWatchPing)
				err := pc.Ping(pctx)
				cancel()
				if err != nil {
					werr = err
					return driver.ErrBadConn
				}
			default:
				werr = err
				return driver.ErrBadConn
			}
		}
	})
	return listened, werr
}
