package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/ledger"
)

// scopedList serves a paginated list of the context profile's resources: find
// returns up to page.Limit+1 rows newest first, key names a row's keyset
// position, render turns a row into its DTO.
func scopedList[T, D any](s *Server, c *fiber.Ctx, message string,
	find func(ctx context.Context, business, profile string, pg ledger.Page) ([]T, error),
	key func(T) (time.Time, string), render func(ledger.Currencies, T) D) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	pg, err := pageParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cs, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	items, err := find(ctx, sc.Business.ID, sc.ProfileID(), pg)
	if err != nil {
		return err
	}
	items, next := pageOf(items, pg.Limit, key)
	out := make([]D, len(items))
	for i, it := range items {
		out[i] = render(cs, it)
	}
	return okList(c, message, out, pg.Limit, next)
}

// scopedGet serves one of the context profile's resources by the :id path
// parameter; another profile's or business's id is not_found.
func scopedGet[T, D any](s *Server, c *fiber.Ctx, message string,
	find func(ctx context.Context, business, profile, id string) (T, error), render func(ledger.Currencies, T) D) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cs, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	v, err := find(ctx, sc.Business.ID, sc.ProfileID(), c.Params("id"))
	if err != nil {
		return err
	}
	return ok(c, fiber.StatusOK, message, render(cs, v))
}
