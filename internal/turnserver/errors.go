package turnserver

import "errors"

// Configuration errors returned by New.
var (
	ErrNoSecret          = errors.New("turnserver: Secret is required")
	ErrShortSecret       = errors.New("turnserver: Secret must be at least 16 bytes")
	ErrNoListeners       = errors.New("turnserver: no UDP socket, TCP listener or TLS listener given")
	ErrPublicIPRequired  = errors.New("turnserver: PublicIP is required when the relay binds to an unspecified address")
	ErrRelayNotIPv4      = errors.New("turnserver: relay and public addresses must be IPv4")
	ErrTooManyHosts      = errors.New("turnserver: at most 5 Hosts (ICE servers per GetIceServerConfig answer)")
	ErrCredentialTTL     = errors.New("turnserver: CredentialTTL must be between 30s and 24h")
	ErrNegativeLimit     = errors.New("turnserver: allocation limits must not be negative")
	ErrRelayPortRange    = errors.New("turnserver: relay port range must satisfy 1 <= RelayMinPort <= RelayMaxPort <= 65535")
	errTCPRelayNotServed = errors.New("turnserver: TCP relay allocations (RFC 6062) are not served")
	errNoRelayPort       = errors.New("turnserver: no free relay port in range")

	errTooManyUnauthenticated = errors.New("turnserver: too many unauthenticated connections")
)

// ErrBadUsername is returned by ParseUsername for a username that is not
// "EXPIRY:CLIENTID" with EXPIRY a Unix time in decimal seconds.
var ErrBadUsername = errors.New("turnserver: malformed credential username")
