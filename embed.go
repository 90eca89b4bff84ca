// Package tally embeds the files of the repository root that the binary serves.
package tally

import _ "embed"

// OpenAPI is openapi.yaml, served at GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
