package api

import "github.com/gofiber/fiber/v2"

// moneyRoutes registers balances, history, deposits, payouts, transfers and
// conversions (API.md §5–7); p resolves X-BU-PROFILE-ID.
func (s *Server) moneyRoutes(v1, p fiber.Router) {}
