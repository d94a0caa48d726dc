package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openkvs/openkvs/internal/certs"
	"github.com/openkvs/openkvs/internal/config"
)

// credentialsFile keeps the generated access key in the data dir.
const credentialsFile = "credentials"

// loadCredentials returns the access keys the verifier accepts (ID to
// secret) and the session tokens issued with some of them: the configured
// ones, or else the key kept in the data dir, generated on first start.
func (s *Server) loadCredentials() (keys, tokens map[string]string, err error) {
	if len(s.cfg.Credentials) > 0 {
		keys, err := config.ParseCredentials(s.cfg.Credentials)
		if err != nil {
			return nil, nil, err
		}
		id, secret, _, _ := config.SplitCredential(s.cfg.Credentials[0])
		s.creds = Credentials{AccessKeyID: id, SecretAccessKey: secret}
		return keys, config.SessionTokens(s.cfg.Credentials), nil
	}
	path := filepath.Join(s.cfg.DataDir, credentialsFile)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		line := strings.TrimSpace(string(b))
		keys, err := config.ParseCredentials([]string{line})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		id, secret, _, _ := config.SplitCredential(line)
		s.creds = Credentials{AccessKeyID: id, SecretAccessKey: secret, Generated: true, File: path}
		return keys, config.SessionTokens([]string{line}), nil
	case errors.Is(err, os.ErrNotExist):
		id, secret := newAccessKey()
		if err := certs.WriteFileAtomic(path, []byte(id+":"+secret+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("credentials: %w", err)
		}
		s.creds = Credentials{AccessKeyID: id, SecretAccessKey: secret, Generated: true, Created: true, File: path}
		return map[string]string{id: secret}, map[string]string{}, nil
	default:
		return nil, nil, fmt.Errorf("credentials: %w", err)
	}
}

// newAccessKey makes a key pair shaped like AWS's: a 20-character upper-case
// ID starting with AKIA and a 40-character secret.
func newAccessKey() (id, secret string) {
	const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const mixed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	return "AKIA" + randomString(upper, 16), randomString(mixed, 40)
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
