package khatru

import (
	"context"
	"errors"

	"github.com/nbd-wtf/go-nostr"
)

// handleEphemeralAnswer is upstream's handleEphemeral with the
// AnswerEphemeral hooks (sovmesh patch): after RejectEvent, answered reports
// that one took the event, which is then not broadcast, and msg is its OK
// message; otherwise the OnEphemeralEvent hooks run.
func (rl *Relay) handleEphemeralAnswer(ctx context.Context, evt *nostr.Event) (answered bool, msg string, err error) {
	for _, reject := range rl.RejectEvent {
		if reject, msg := reject(ctx, evt); reject {
			if msg == "" {
				return false, "", errors.New("blocked: no reason")
			} else {
				return false, "", errors.New(nostr.NormalizeOKMessage(msg, "blocked"))
			}
		}
	}

	for _, answer := range rl.AnswerEphemeral {
		if handled, ok, msg := answer(ctx, evt); handled {
			if !ok {
				return true, "", errors.New(nostr.NormalizeOKMessage(msg, "error"))
			}
			return true, msg, nil
		}
	}

	for _, oee := range rl.OnEphemeralEvent {
		oee(ctx, evt)
	}

	return false, "", nil
}
