package provider

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// retainingStore records, for every chunk put, until when it is paid for
// and in which market session: the duration of the session the put's
// stream named (the provider's gate checked it is an open storage session
// of the putting buyer), or one day for a put in no session.
type retainingStore struct {
	*store.Store
	db *state.DB
}

var _ transport.SessionStore = retainingStore{}

// Put stores a chunk put in no session.
func (r retainingStore) Put(c chunk.CID, owner [32]byte, data []byte) error {
	return r.PutIn(c, owner, "", data)
}

// PutIn implements transport.SessionStore: it stores the chunk and records
// its storage period and session (group-committed with the other streams'
// records: DB.KeepChunk). It returns, and the put is acknowledged, only
// once both are durable.
func (r retainingStore) PutIn(c chunk.CID, owner [32]byte, session string, data []byte) error {
	if err := r.Store.Put(c, owner, data); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.db.KeepChunk(ctx, state.KeptChunk{CID: hex.EncodeToString(c[:]), Owner: hex.EncodeToString(owner[:]), Session: session, Size: len(data)}, time.Now())
}

// Delete deletes the chunk and its record.
func (r retainingStore) Delete(c chunk.CID, owner [32]byte) error {
	if err := r.Store.Delete(c, owner); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.db.ForgetChunk(ctx, hex.EncodeToString(c[:]))
}

// SweepExpired deletes the chunks whose paid storage period ended before
// now and returns how many it deleted.
func (p *Provider) SweepExpired(ctx context.Context, now time.Time) (int, error) {
	if p.store == nil {
		return 0, nil
	}
	n := 0
	for {
		exp, err := p.db.ExpiredChunks(ctx, now, 500)
		if err != nil || len(exp) == 0 {
			return n, err
		}
		for _, e := range exp {
			cb, err1 := hex.DecodeString(e.CID)
			ob, err2 := hex.DecodeString(e.Owner)
			if err1 == nil && err2 == nil && len(cb) == 32 && len(ob) == 32 {
				err := p.store.Delete(chunk.CID(cb), [32]byte(ob))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					p.log.Warn("expired chunk not deleted", "cid", e.CID, "err", err)
					continue
				}
				n++
			}
			if err := p.db.ForgetChunk(ctx, e.CID); err != nil {
				return n, err
			}
		}
	}
}

func (p *Provider) sweepLoop(ctx context.Context) {
	every(ctx, p.cfg.SweepInterval, func() {
		if n, err := p.SweepExpired(ctx, time.Now()); err != nil && ctx.Err() == nil {
			p.log.Warn("expired chunks not swept", "err", err)
		} else if n > 0 {
			p.log.Info("expired chunks deleted", "chunks", n)
		}
		if p.blossom != nil {
			if n, err := p.blossom.Sweep(); err != nil {
				p.log.Warn("expired blobs not swept", "err", err)
			} else if n > 0 {
				p.log.Info("expired blobs deleted", "blobs", n)
			}
		}
	})
}
