package relay

import (
	"encoding/json"
	"net/http"

	"github.com/nbd-wtf/go-nostr/nip11"
)

// Software and Version are announced in the NIP-11 document.
const (
	Software = "https://github.com/sovmesh/sovmesh"
	Version  = "0.1.0"
)

// Info is the relay's NIP-11 information document. It has every field of
// go-nostr's nip11 document plus max_filters, which go-nostr lacks.
type Info struct {
	Name          string                   `json:"name"`
	Description   string                   `json:"description"`
	PubKey        string                   `json:"pubkey"`
	Contact       string                   `json:"contact,omitempty"`
	SupportedNIPs []int                    `json:"supported_nips"`
	Software      string                   `json:"software"`
	Version       string                   `json:"version"`
	Limitation    Limitation               `json:"limitation"`
	Fees          *nip11.RelayFeesDocument `json:"fees,omitempty"`
	PaymentsURL   string                   `json:"payments_url,omitempty"`
	// Mints are the Cashu mints the relay accepts fees in (sovmesh extension).
	Mints []string `json:"mints,omitempty"`
	// TestMoney is true when the relay runs its embedded development mint,
	// whose ecash is backed by a fake Lightning node (sovmesh extension).
	TestMoney bool `json:"test_money,omitempty"`
	// TopUpKind is the ephemeral event kind that credits the sender's
	// prepaid fee balance with a Cashu token, when the relay takes them
	// (sovmesh extension; nips/topup.md).
	TopUpKind int `json:"topup_kind,omitempty"`
	// Matching is true when the relay runs the market's matching engine:
	// it proposes fills for open bids (kind 8468) and ends each bid's
	// proposals (kind 8470). A client waits for proposals only from relays
	// that say so (sovmesh extension; nips/proposal.md).
	Matching bool `json:"matching,omitempty"`
}

// Limitation is the NIP-11 limitation object.
type Limitation struct {
	MaxMessageLength    int   `json:"max_message_length"`
	MaxSubscriptions    int   `json:"max_subscriptions"`
	MaxFilters          int   `json:"max_filters"`
	MaxLimit            int   `json:"max_limit"`
	DefaultLimit        int   `json:"default_limit"`
	MaxSubidLength      int   `json:"max_subid_length"`
	MaxEventTags        int   `json:"max_event_tags"`
	MaxContentLength    int   `json:"max_content_length"`
	CreatedAtLowerLimit int64 `json:"created_at_lower_limit"`
	CreatedAtUpperLimit int64 `json:"created_at_upper_limit"`
	AuthRequired        bool  `json:"auth_required"`
	PaymentRequired     bool  `json:"payment_required"`
	RestrictedWrites    bool  `json:"restricted_writes"`
}

// SupportedNIPs lists the NIPs this relay implements.
var SupportedNIPs = []int{1, 9, 11, 40, 42, 45, 77}

// Info returns the relay's current NIP-11 document.
func (r *Relay) Info() Info {
	info := Info{
		Name:          r.cfg.Name,
		Description:   r.cfg.Description,
		PubKey:        r.pubkey,
		Contact:       r.cfg.Contact,
		SupportedNIPs: SupportedNIPs,
		Software:      Software,
		Version:       Version,
		Limitation: Limitation{
			MaxMessageLength:    r.cfg.MaxMessageLength,
			MaxSubscriptions:    r.cfg.MaxSubscriptions,
			MaxFilters:          r.cfg.MaxFilters,
			MaxLimit:            r.cfg.MaxLimit,
			DefaultLimit:        r.cfg.DefaultLimit,
			MaxSubidLength:      r.cfg.MaxSubIDLength,
			MaxEventTags:        r.cfg.MaxEventTags,
			MaxContentLength:    r.cfg.MaxContentLength,
			CreatedAtLowerLimit: int64(r.cfg.MaxPast.Seconds()),
			CreatedAtUpperLimit: int64(r.cfg.MaxFuture.Seconds()),
			AuthRequired:        r.cfg.Auth == AuthAll,
			RestrictedWrites:    r.cfg.Auth != AuthNone,
		},
	}
	for _, f := range r.infoHooks {
		f(&info)
	}
	return info
}

func (r *Relay) serveInfo(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/nostr+json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Headers", "*")
	w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(r.Info())
}
