package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/config"
)

// loadApps reads and validates the apps document at path.
func loadApps(ctx context.Context, path string) (*config.Apps, error) {
	apps, err := config.LoadApps(ctx, config.NewFileSource(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return apps, nil
}

// callbackFile is a callback.ConfigSource that re-reads its file when the
// file changes, so edits to the sample configuration apply without a
// restart, and hands the handler the same *Config while it does not.
type callbackFile struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	modTime time.Time
	size    int64
	cfg     *callback.Config
}

func newCallbackFile(path string, log *slog.Logger) (*callbackFile, error) {
	f := &callbackFile{path: path, log: log}
	if _, err := f.Load(context.Background()); err != nil {
		return nil, err
	}
	return f, nil
}

// Load returns the current configuration; after a failed re-read it keeps
// serving the last good one.
func (f *callbackFile) Load(context.Context) (*callback.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return f.keep(fmt.Errorf("callback config: %w", err))
	}
	if f.cfg != nil && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.cfg, nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return f.keep(fmt.Errorf("callback config: %w", err))
	}
	cfg, err := callback.ParseConfig(data)
	if err != nil {
		return f.keep(fmt.Errorf("%s: %w", f.path, err))
	}
	f.cfg, f.modTime, f.size = cfg, fi.ModTime(), fi.Size()
	return cfg, nil
}

// keep answers a failed re-read with the last good configuration, if any.
func (f *callbackFile) keep(err error) (*callback.Config, error) {
	if f.cfg == nil {
		return nil, err
	}
	f.log.Warn("callback config: keeping the last good version", "error", err.Error())
	return f.cfg, nil
}
