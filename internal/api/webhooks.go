package api

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/internal/webhook"
	"github.com/tallyhq/tally/ledger"
)

// webhookRoutes registers webhook endpoints and events (API.md §8). v1 is the
// authenticated group; p additionally resolves X-BU-PROFILE-ID.
//
// Events are context-aware: with X-BU-PROFILE-ID naming a customer, /v1/events and
// everything under it see only events whose profile_id is that customer; with the
// main profile (no header, or the business's own id) they see every event of the
// business, since the business owns all of its customers' activity. Endpoints
// belong to the business as a whole and ignore the header.
func (s *Server) webhookRoutes(v1, p fiber.Router) {
	v1.Post("/webhook-endpoints", s.createWebhookEndpoint)
	v1.Get("/webhook-endpoints", s.listWebhookEndpoints)
	v1.Get("/webhook-endpoints/:id", s.getWebhookEndpoint)
	v1.Delete("/webhook-endpoints/:id", s.deleteWebhookEndpoint)
	p.Get("/events", s.listEvents)
	p.Get("/events/:id", s.getEvent)
	p.Post("/events/:id/redeliver", s.redeliverEvent)
	p.Get("/events/:id/deliveries", s.listEventDeliveries)
}

type webhookEndpointDTO struct {
	ID        string   `json:"id"`
	Object    string   `json:"object"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt string   `json:"created_at"`
	// Secret is present only in the response to the create (and its replays).
	Secret string `json:"secret,omitempty"`
}

func toWebhookEndpointDTO(e postgres.WebhookEndpoint) webhookEndpointDTO {
	return webhookEndpointDTO{ID: e.ID, Object: "webhook_endpoint", URL: e.URL, Events: e.Events, CreatedAt: rfc3339(e.CreatedAt)}
}

type webhookEndpointRequest struct {
	URL    *string  `json:"url"`
	Events []string `json:"events"`
}

// webhookEvents validates an event filter: known types only, duplicates dropped,
// empty meaning every type.
func webhookEvents(in []string) ([]string, error) {
	out := []string{}
	for _, t := range in {
		if !webhook.ValidEventType(t) {
			return nil, ledger.ParamErrorf(ledger.CodeValidation, "events", "unknown event type %q; known types: %v", truncateForMessage(t), webhook.EventTypes)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func truncateForMessage(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// createWebhookEndpoint registers an endpoint and shows its signing secret. The
// secret is stored only sealed (AES-GCM under TALLY_WEBHOOK_KEY): the idempotency
// record keeps the response without it, and a replay puts it back from the sealed
// copy, so no plain secret is ever at rest.
func (s *Server) createWebhookEndpoint(c *fiber.Ctx) error {
	var req webhookEndpointRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, _ := principalFrom(c)
	if req.URL == nil {
		return ledger.ParamErrorf(ledger.CodeValidation, "url", "url is required")
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	url, err := webhook.CheckURL(ctx, *req.URL, webhook.PolicyFor(p.business.Mode, s.cfg.WebhookAllowPrivate))
	if err != nil {
		return err
	}
	events, err := webhookEvents(req.Events)
	if err != nil {
		return err
	}
	e := postgres.WebhookEndpoint{Business: p.business.ID, ID: ledger.NewID(ledger.PrefixWebhook), URL: url, Events: events,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	secret := webhook.NewSecret()
	if e.Secret, err = webhook.Seal(s.cfg.WebhookKey, secret, webhook.SecretAAD(e.Business, e.ID)); err != nil {
		return err
	}
	err = s.write(c, fiber.StatusCreated, "Webhook endpoint created; store the secret now, it is not shown again",
		func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
			return toWebhookEndpointDTO(e), tx.CreateWebhookEndpoint(ctx, e)
		})
	if err != nil {
		return err
	}
	return s.revealSecret(c, e.ID, secret)
}

// revealSecret adds the signing secret to the create response that write sent:
// this request's secret, or for a replay the one sealed with the endpoint it made.
func (s *Server) revealSecret(c *fiber.Ctx, id, secret string) error {
	if c.Response().StatusCode() != fiber.StatusCreated {
		return nil
	}
	var env struct {
		Status  string             `json:"status"`
		Message string             `json:"message"`
		Data    webhookEndpointDTO `json:"data"`
	}
	if err := json.Unmarshal(c.Response().Body(), &env); err != nil {
		return err
	}
	if env.Data.ID != id { // a replay: the endpoint of the first request
		p, _ := principalFrom(c)
		ctx, cancel := s.requestContext(c)
		defer cancel()
		e, err := s.store.FindWebhookEndpoint(ctx, p.business.ID, env.Data.ID)
		if ledger.ErrorCode(err) == ledger.CodeNotFound {
			return nil // deleted since: nothing left to sign with
		}
		if err != nil {
			return err
		}
		if secret, err = webhook.Open(s.cfg.WebhookKey, e.Secret, webhook.SecretAAD(e.Business, e.ID)); err != nil {
			return err
		}
	}
	env.Data.Secret = secret
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	c.Response().SetBodyRaw(body)
	return nil
}

func (s *Server) listWebhookEndpoints(c *fiber.Ctx) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	list, err := s.store.FindWebhookEndpoints(ctx, p.business.ID, page)
	if err != nil {
		return err
	}
	list, next := pageAt(list, page.Limit, func(i int) (time.Time, string) { return list[i].CreatedAt, list[i].ID })
	out := make([]webhookEndpointDTO, len(list))
	for i, e := range list {
		out[i] = toWebhookEndpointDTO(e)
	}
	return okList(c, "Webhook endpoints retrieved", out, page.Limit, next)
}

func (s *Server) getWebhookEndpoint(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	e, err := s.store.FindWebhookEndpoint(ctx, p.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	return ok(c, fiber.StatusOK, "Webhook endpoint retrieved", toWebhookEndpointDTO(e))
}

// deleteWebhookEndpoint stops deliveries to an endpoint (its pending ones are given
// up) and answers 204.
func (s *Server) deleteWebhookEndpoint(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	id := c.Params("id")
	err := s.store.InTxAs(ctx, p.business.ID, func(ctx context.Context, tx *postgres.Tx) error {
		return tx.DeleteWebhookEndpoint(ctx, p.business.ID, id)
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// eventProfile is the profile filter of the request's scope: "" for the main
// profile (every event of the business), else the customer's id.
func eventProfile(c *fiber.Ctx) (ledger.Scope, string, error) {
	sc, err := scopeFrom(c)
	if err != nil {
		return sc, "", err
	}
	if sc.Customer != nil {
		return sc, sc.Customer.ID, nil
	}
	return sc, "", nil
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	sc, profile, err := eventProfile(c)
	if err != nil {
		return err
	}
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	typ := c.Query("type")
	if typ != "" && !webhook.ValidEventType(typ) {
		return ledger.ParamErrorf(ledger.CodeValidation, "type", "unknown event type %q; known types: %v", truncateForMessage(typ), webhook.EventTypes)
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	list, err := s.store.FindEvents(ctx, sc.Business.ID, postgres.EventFilter{Profile: profile, Type: typ}, page)
	if err != nil {
		return err
	}
	list, next := pageAt(list, page.Limit, func(i int) (time.Time, string) { return list[i].CreatedAt, list[i].ID })
	out := make([]webhook.Event, len(list))
	for i, e := range list {
		out[i] = webhook.EventOf(e)
	}
	return okList(c, "Events retrieved", out, page.Limit, next)
}

// findEvent loads the :id event as the request's scope sees it.
func (s *Server) findEvent(c *fiber.Ctx) (postgres.Event, error) {
	sc, profile, err := eventProfile(c)
	if err != nil {
		return postgres.Event{}, err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	return s.store.FindEvent(ctx, sc.Business.ID, profile, c.Params("id"))
}

func (s *Server) getEvent(c *fiber.Ctx) error {
	e, err := s.findEvent(c)
	if err != nil {
		return err
	}
	return ok(c, fiber.StatusOK, "Event retrieved", webhook.EventOf(e))
}

type webhookDeliveryDTO struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	Status     string `json:"status"`
	CreatedAt  string `json:"created_at"`
}

// redeliverEvent queues the event again for every live endpoint subscribed to its
// type and answers the new deliveries; the body sent is the same, event id
// included, so receivers dedupe it.
func (s *Server) redeliverEvent(c *fiber.Ctx) error {
	e, err := s.findEvent(c)
	if err != nil {
		return err
	}
	return s.write(c, fiber.StatusAccepted, "Redelivery queued", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		ds, err := tx.RedeliverEvent(ctx, e.Business, e)
		if err != nil {
			return nil, err
		}
		out := make([]webhookDeliveryDTO, len(ds))
		for i, d := range ds {
			out[i] = webhookDeliveryDTO{ID: d.ID, Object: "webhook_delivery", EventID: d.EventID,
				EndpointID: d.EndpointID, Status: d.Status, CreatedAt: rfc3339(d.CreatedAt)}
		}
		return out, nil
	})
}

type webhookAttemptDTO struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	DeliveryID string  `json:"delivery_id"`
	EventID    string  `json:"event_id"`
	EndpointID string  `json:"endpoint_id"`
	Attempt    int     `json:"attempt"`
	URL        string  `json:"url"`
	StatusCode *int    `json:"status_code"`
	LatencyMS  int     `json:"latency_ms"`
	Error      *string `json:"error"`
	CreatedAt  string  `json:"created_at"`
}

// listEventDeliveries lists every HTTP attempt made for the event, newest first.
func (s *Server) listEventDeliveries(c *fiber.Ctx) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	e, err := s.findEvent(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	list, err := s.store.FindWebhookAttempts(ctx, e.Business, e.ID, page)
	if err != nil {
		return err
	}
	list, next := pageAt(list, page.Limit, func(i int) (time.Time, string) { return list[i].CreatedAt, list[i].ID })
	out := make([]webhookAttemptDTO, len(list))
	for i, a := range list {
		out[i] = webhookAttemptDTO{ID: a.ID, Object: "webhook_attempt", DeliveryID: a.DeliveryID, EventID: a.EventID,
			EndpointID: a.EndpointID, Attempt: a.Attempt, URL: a.URL, StatusCode: a.StatusCode, LatencyMS: a.LatencyMS,
			Error: a.Error, CreatedAt: rfc3339(a.CreatedAt)}
	}
	return okList(c, "Delivery attempts retrieved", out, page.Limit, next)
}
