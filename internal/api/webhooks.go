package api

import "github.com/gofiber/fiber/v2"

// webhookRoutes registers webhook endpoints and events (API.md §8). v1 is the
// authenticated group; p additionally resolves X-BU-PROFILE-ID.
func (s *Server) webhookRoutes(v1, p fiber.Router) {}
