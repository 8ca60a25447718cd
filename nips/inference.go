package nips

// What a buyer and a provider of inference agree on beyond the offer
// (offer.md): the field naming the market session in a paid request, the
// completion bought when a request sets no max_tokens, and the prompt
// tokens both sides assume before the answer's usage is known.

// InferenceSessionField names the market session in a paid inference
// request, so the provider charges the match's prices.
const InferenceSessionField = "x_sovmesh_session"

// DefaultMaxTokens caps a completion whose request sets no max_tokens.
const DefaultMaxTokens = 512

// PromptEstimate is the prompt tokens both sides assume before the
// answer's usage is known: one per two bytes of the messages, plus 16.
func PromptEstimate(messagesJSON []byte) uint64 { return uint64(len(messagesJSON))/2 + 16 }
