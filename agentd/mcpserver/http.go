package mcpserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionIdle is how long an HTTP session may stay idle before it is closed.
const sessionIdle = 30 * time.Minute

// HTTPHandler serves srv over MCP's streamable HTTP transport to clients
// that send "Authorization: Bearer KEY"; others get 401. The key is
// compared in constant time and never logged.
func HTTPHandler(srv *mcp.Server, key string) http.Handler {
	want := sha256.Sum256([]byte(key))
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		got := sha256.Sum256([]byte(token))
		if key == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{}, nil
	}
	// A client that goes away without ending its session leaves it behind
	// until it has been idle for sessionIdle.
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{SessionTimeout: sessionIdle})
	return auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
}
