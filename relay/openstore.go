package relay

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sovmesh/sovmesh/relay/pgstore"
	"github.com/sovmesh/sovmesh/relay/sqlitestore"
)

// OpenStore validates cfg and opens the event store it names: PostgreSQL
// when cfg.Database is set, else DataDir/events.db (created with the data
// directory if missing), tuned by cfg's store settings and running on its
// clock. Pass it to New, which takes it over.
func OpenStore(cfg Config, log *slog.Logger) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Database != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := pgstore.New(ctx, cfg.Database, pgstore.WithLogger(log), pgstore.WithClock(cfg.now()),
			pgstore.WithPurgeInterval(cfg.PurgeInterval), pgstore.WithPurgeBatch(cfg.PurgeBatch))
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	opts := []sqlitestore.Option{sqlitestore.WithLogger(log), sqlitestore.WithClock(cfg.now()),
		sqlitestore.WithBatch(cfg.StoreBatch, cfg.StoreBatchWait),
		sqlitestore.WithPurgeInterval(cfg.PurgeInterval), sqlitestore.WithPurgeBatch(cfg.PurgeBatch)}
	if cfg.StoreReaders > 0 {
		opts = append(opts, sqlitestore.WithReaders(cfg.StoreReaders))
	}
	s, err := sqlitestore.New(filepath.Join(cfg.DataDir, "events.db"), opts...)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return s, nil
}
