package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/tallyhq/tally/ledger"
)

// URLLenMax bounds an endpoint URL.
const URLLenMax = 2048

// resolveTimeout bounds the DNS lookup made when a live endpoint is registered.
const resolveTimeout = 3 * time.Second

// Policy says which URLs an endpoint may have. Sandbox businesses may use http and
// loopback or private addresses, to receive on a laptop; live businesses need https
// and a public address unless the operator sets TALLY_WEBHOOK_ALLOW_PRIVATE.
type Policy struct {
	RequireHTTPS bool
	PublicOnly   bool
}

// PolicyFor returns the policy of a business in mode.
func PolicyFor(mode ledger.Mode, allowPrivate bool) Policy {
	live := mode == ledger.ModeLive
	return Policy{RequireHTTPS: live, PublicOnly: live && !allowPrivate}
}

// ErrPrivateAddress is returned when a live endpoint resolves to a non-public address.
var ErrPrivateAddress = errors.New("webhook: destination is not a public address")

// CheckURL validates raw under p and returns it normalised. With PublicOnly, every
// address the host resolves to must be public; the Worker checks again when it
// dials, so a DNS answer that changes later (rebinding) is refused as well. Errors
// are validation_failed on "url".
func CheckURL(ctx context.Context, raw string, p Policy) (string, error) {
	bad := func(format string, args ...any) error {
		return ledger.ParamErrorf(ledger.CodeValidation, "url", format, args...)
	}
	if raw == "" {
		return "", bad("url is required")
	}
	if len(raw) > URLLenMax {
		return "", bad("url must be at most %d characters", URLLenMax)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "", bad("url must be an absolute http(s) URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", bad("url must use http or https")
	case p.RequireHTTPS && scheme != "https":
		return "", bad("url must use https for a live business")
	case u.Hostname() == "":
		return "", bad("url must name a host")
	case u.User != nil:
		return "", bad("url must not carry credentials; authenticate deliveries by their signature")
	case u.Fragment != "":
		return "", bad("url must not have a fragment")
	}
	u.Scheme = scheme
	if p.PublicOnly {
		if err := checkHost(ctx, u.Hostname()); err != nil {
			return "", bad("url host %s: %v", u.Hostname(), err)
		}
	}
	return u.String(), nil
}

// checkHost refuses a host that is, or resolves to, a non-public address.
func checkHost(ctx context.Context, host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		if !PublicAddr(ip) {
			return errors.New("not a public address")
		}
		return nil
	}
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return errors.New("not a public address")
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return errors.New("does not resolve")
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return errors.New("resolves to a non-public address")
		}
	}
	return nil
}

// nonPublic lists ranges that are not routable on the internet beyond what
// netip.Addr's predicates cover (shared address space, benchmarking, documentation…).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"),
}

// PublicAddr reports whether ip is a public unicast address.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// publicOnlyControl is a net.Dialer Control func: it runs after DNS resolution, on
// the address actually dialled, so a name that resolved to a public address at
// registration cannot be re-pointed at 127.0.0.1 or the metadata service later.
func publicOnlyControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !PublicAddr(ip) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	return nil
}
