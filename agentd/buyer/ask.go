package buyer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sovmesh/sovmesh/transport"
)

// Message is one chat message of a completion Ask buys.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Answer is a completion Ask bought: its text, the model and provider that
// wrote it and the tokens paid for.
type Answer struct {
	Content          string
	Model            string
	Provider         string
	FinishReason     string
	PromptTokens     uint64
	CompletionTokens uint64
}

// Ask buys one chat completion of model, as the local OpenAI endpoint does
// for a request that is not streamed (Complete: same providers, payments,
// budgets and failover). maxTokens 0 takes the provider's default.
func (b *Buyer) Ask(ctx context.Context, model string, msgs []Message, maxTokens uint64) (Answer, error) {
	r := map[string]any{"model": model, "messages": msgs}
	if maxTokens > 0 {
		r["max_tokens"] = maxTokens
	}
	body := mustJSON(r)
	if _, err := transport.ParseChatRequest(body); err != nil {
		return Answer{}, err
	}
	var req chatRequest
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return Answer{}, fmt.Errorf("buyer: ask: %w", err)
	}
	if err := json.Unmarshal(body, &fields); err != nil {
		return Answer{}, fmt.Errorf("buyer: ask: %w", err)
	}
	s := &sink{model: model}
	if err := b.Complete(ctx, fields, req, s); err != nil {
		return Answer{}, err
	}
	finish := s.finish
	if finish == "" {
		finish = "stop"
	}
	return Answer{Content: s.content.String(), Model: s.model, Provider: s.provider, FinishReason: finish,
		PromptTokens: s.prompt, CompletionTokens: s.compl}, nil
}
