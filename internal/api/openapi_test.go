package api

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// specPath is openapi.yaml at the module root, relative to this package.
const specPath = "../../openapi.yaml"

var (
	specPathLine   = regexp.MustCompile(`^  (['"]?)(/[^'"]*)(['"]?):\s*$`)
	specMethodLine = regexp.MustCompile(`^    (get|put|post|delete|options|head|patch|trace):\s*$`)
)

// specOperations scans the paths: section of openapi.yaml line by line (the module
// has no YAML parser, and the spec is written in block style): a path key sits at
// two spaces of indentation, its methods at four. It returns "METHOD /path" keys.
func specOperations(t *testing.T, spec []byte) map[string]bool {
	t.Helper()
	ops := map[string]bool{}
	inPaths, path := false, ""
	sc := bufio.NewScanner(bytes.NewReader(spec))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if line[0] != ' ' { // a top-level key
			inPaths, path = strings.HasPrefix(line, "paths:"), ""
			continue
		}
		if !inPaths {
			continue
		}
		if m := specPathLine.FindStringSubmatch(line); m != nil {
			path = m[2]
			continue
		}
		if m := specMethodLine.FindStringSubmatch(line); m != nil && path != "" {
			ops[strings.ToUpper(m[1])+" "+path] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan %s: %v", specPath, err)
	}
	return ops
}

// openAPIPath turns a Fiber route template into an OpenAPI path: ":id" → "{id}".
// Optional markers and constraints (":id?", ":id<int>") are dropped; a wildcard has
// no OpenAPI form and is returned as is, so it is reported as undocumented.
func openAPIPath(route string) string {
	segs := strings.Split(route, "/")
	for i, seg := range segs {
		if name, ok := strings.CutPrefix(seg, ":"); ok {
			if j := strings.IndexAny(name, "?<+"); j >= 0 {
				name = name[:j]
			}
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

// TestOpenAPICoversRoutes fails when a route is registered without being described
// in openapi.yaml: the spec is the contract integrators code against.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	if !bytes.HasPrefix(bytes.TrimLeft(skipComments(spec), "\n"), []byte("openapi: 3.1")) {
		t.Fatalf("%s does not start with openapi: 3.1", specPath)
	}
	ops := specOperations(t, spec)
	if len(ops) < 10 || !ops["GET /healthz"] || !ops["POST /v1/customers"] {
		t.Fatalf("scanned only %d operations from %s (is the paths: section still in block style?): %v", len(ops), specPath, ops)
	}

	srv := testServer(t)
	var missing []string
	seen := map[string]bool{}
	routes := 0
	for _, r := range srv.App().GetRoutes(true) { // true: skip Use middleware
		if r.Method == fiber.MethodHead || len(r.Handlers) == 0 || r.Path == "" || r.Path == "/" {
			continue
		}
		key := r.Method + " " + openAPIPath(r.Path)
		if seen[key] {
			continue
		}
		seen[key] = true
		routes++
		if !ops[key] {
			missing = append(missing, key+"  (route "+r.Path+")")
		}
	}
	if routes == 0 {
		t.Fatal("the app registered no routes")
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("route not documented in openapi.yaml: %s", m)
	}

	// Informational: documented operations the server does not serve yet.
	var pending []string
	for op := range ops {
		if !seen[op] {
			pending = append(pending, op)
		}
	}
	sort.Strings(pending)
	t.Logf("%d routes registered, all in the spec: %v; %d documented operations not registered yet: %s",
		routes, len(missing) == 0, len(pending), strings.Join(pending, ", "))
}

// skipComments drops the leading comment lines of a YAML document.
func skipComments(b []byte) []byte {
	for bytes.HasPrefix(b, []byte("#")) {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

func TestOpenAPIPathConversion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/v1/customers":                        "/v1/customers",
		"/v1/customers/:id":                    "/v1/customers/{id}",
		"/v1/customers/:id/wallets/:wallet_id": "/v1/customers/{id}/wallets/{wallet_id}",
		"/v1/balances/:currency?":              "/v1/balances/{currency}",
		"/v1/items/:n<int>":                    "/v1/items/{n}",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}
