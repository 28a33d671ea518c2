package directoryhttp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"workbench/shared/directory"
	"workbench/shared/httpapi"
)

// RegisterScope scopes the Idempotency-Key of a self-registration, which
// carries no credential, to what its body names: the tenant, the
// invitation and the mobile. Within that scope an answer is replayed only
// to a byte-identical body, SMS code included, so whoever guesses a key
// (and the tenant, invitation and mobile) without the code gets a 422 and
// never the first answer. The scope is a hash: the idempotency table holds
// no mobile. Any other request, or a body that does not name all three,
// has no scope: it is served without the key, and the handler answers it.
func RegisterScope(r *http.Request) string {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/register" {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodyBytes+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	var in directory.RegisterInput
	if err != nil || len(body) > httpapi.MaxBodyBytes || json.Unmarshal(body, &in) != nil {
		return ""
	}
	parts := []string{strings.TrimSpace(in.Tenant), strings.TrimSpace(in.Invitation), strings.TrimSpace(in.Mobile)}
	for _, p := range parts {
		if p == "" {
			return ""
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return "register/" + hex.EncodeToString(sum[:])
}
