package metering

import "github.com/sovmesh/sovmesh/nips"

// In-band payment of inference requests (as Routstr's X-Cashu, inside the
// transport's inference protocol): the buyer adds the reservation, a Cashu
// token, to the OpenAI request JSON under TokenField; the provider redeems
// it, forwards the request without it, prices the answer from its usage,
// and sends the change back as the last chunk, an object of type
// ChangeObject that the buyer's endpoint consumes.
const (
	// TokenField carries the buyer's token in the request JSON.
	TokenField = "x_cashu"
	// ChangeObject is the "object" of the provider's closing chunk.
	ChangeObject = "sovmesh.change"
)

// Change is the provider's closing chunk of a paid completion, and the
// content of a change note (kind 8466): the change of a completion whose
// stream was gone, or a closed storage or bandwidth session's unused
// credit (Gate.RefundClosed), which names its Session and Resource.
type Change struct {
	Object     string `json:"object"` // ChangeObject
	Token      string `json:"token,omitempty"`
	ChangeSats uint64 `json:"change_sats"`
	PaidSats   uint64 `json:"paid_sats"`
	CostMsat   uint64 `json:"cost_msat"`
	Prompt     uint64 `json:"prompt_tokens"`
	Completion uint64 `json:"completion_tokens"`
	Error      string `json:"error,omitempty"`
	// Session and Resource name the session a credit refund comes from.
	Session  string        `json:"session,omitempty"`
	Resource nips.Resource `json:"resource,omitempty"`
}
