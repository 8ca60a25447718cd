package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// echoModel is a stand-in for a language model (none runs here): it
// streams the words of the last message back as chat.completion.chunk
// objects, the way an OpenAI-compatible server streams.
type echoModel struct {
	delay time.Duration
}

func (e echoModel) ChatCompletion(ctx context.Context, req *transport.ChatRequest, _ []byte, emit func([]byte) error) error {
	var text string
	if err := json.Unmarshal(req.Messages[len(req.Messages)-1].Content, &text); err != nil {
		return err
	}
	for i, w := range strings.Fields(text) {
		if e.delay > 0 {
			select {
			case <-time.After(e.delay):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		chunk, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-echo", "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": w}}},
		})
		if err := emit(chunk); err != nil {
			return fmt.Errorf("emit %d: %w", i, err)
		}
	}
	return nil
}

func chatRequest(text string) []byte {
	b, _ := json.Marshal(map[string]any{"model": "echo", "stream": true,
		"messages": []any{map[string]string{"role": "user", "content": text}}})
	return b
}

func collect(t *testing.T, s *transport.InferenceStream) ([]string, error) {
	t.Helper()
	var words []string
	for range 1000 {
		b, err := s.Recv()
		if err == io.EOF {
			return words, nil
		}
		if err != nil {
			return words, err
		}
		var c struct {
			Object  string
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal(b, &c); err != nil || c.Object != "chat.completion.chunk" {
			t.Fatalf("bad chunk %q: %v", b, err)
		}
		words = append(words, c.Choices[0].Delta.Content)
	}
	t.Fatal("stream did not end")
	return nil, nil
}

func TestInferenceStreamsAndMeters(t *testing.T) {
	gate := &meter.Gate{Initial: 2}
	prov := newHost(t)
	prov.ServeInference(echoModel{}, gate)
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	payer := &meter.Payer{Step: 3}
	text := "one two three four five six seven eight nine ten"
	s, err := buyer.Infer(t.Context(), pid, chatRequest(text), payer)
	if err != nil {
		t.Fatal(err)
	}
	words, err := collect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(words, " ") != text {
		t.Fatalf("got %q", words)
	}
	// 10 chunks, 2 free, steps of 3: 3 payments.
	if units, n := payer.Paid(); units != 9 || n != 3 {
		t.Fatalf("paid %d units in %d steps", units, n)
	}
	if s.Usage().Units != 10 {
		t.Fatalf("usage %+v", s.Usage())
	}
}

func TestInferenceRefusals(t *testing.T) {
	prov := newHost(t)
	prov.ServeInference(echoModel{}, &meter.Gate{Initial: 1})
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	// Bad requests are refused before anything is sent.
	for _, raw := range []string{`not json`, `{"model":"x"}`, `{"messages":[{"role":"user","content":"hi"}]}`, `{"model":"x","messages":[{"content":"hi"}]}`} {
		if _, err := buyer.Infer(t.Context(), pid, []byte(raw), nil); !errors.Is(err, transport.ErrBadRequest) {
			t.Fatalf("%s: %v", raw, err)
		}
	}
	// No payer: one free chunk, then a clear payment error.
	s, err := buyer.Infer(t.Context(), pid, chatRequest("a b c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	words, err := collect(t, s)
	if !errors.Is(err, transport.ErrPaymentRefused) || len(words) != 1 {
		t.Fatalf("words %q, err %v", words, err)
	}
}

func TestInferenceProviderStalls(t *testing.T) {
	prov := newHost(t)
	prov.ServeInference(echoModel{delay: 3 * time.Second}, nil)
	buyer := newHost(t, transport.WithTimeouts(500*time.Millisecond, 0, 0))
	pid := connect(t, buyer, prov)
	s, err := buyer.Infer(t.Context(), pid, chatRequest("slow words"), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Recv()
	if err == nil || time.Since(start) > 2500*time.Millisecond {
		t.Fatalf("stalled provider: err %v after %v", err, time.Since(start))
	}
}

func FuzzParseChatRequest(f *testing.F) {
	f.Add(chatRequest("hello"))
	f.Add([]byte(`{"model":"m","messages":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := transport.ParseChatRequest(raw)
		if err != nil {
			if !errors.Is(err, transport.ErrBadRequest) && !errors.Is(err, transport.ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if r.Model == "" || len(r.Messages) == 0 {
			t.Fatal("accepted an incomplete request")
		}
	})
}
