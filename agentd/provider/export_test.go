package provider

import (
	"context"

	"github.com/sovmesh/sovmesh/transport"
)

// ServeChat serves one chat completion request raw as the inference
// protocol does (ChatCompletion), emitting its chunks with emit.
func (p *Provider) ServeChat(ctx context.Context, raw []byte, emit func([]byte) error) error {
	if err := p.infer.init(ctx); err != nil {
		return err
	}
	creq, err := transport.ParseChatRequest(raw)
	if err != nil {
		return err
	}
	return p.infer.ChatCompletion(ctx, creq, raw, emit)
}
