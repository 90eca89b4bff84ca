package api

import "github.com/gofiber/fiber/v2"

// credentialRoutes registers API key management and customer tokens (API.md §1, §4).
func (s *Server) credentialRoutes(v1 fiber.Router) {}
