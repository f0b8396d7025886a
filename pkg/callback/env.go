package callback

import (
	"bytes"
	"context"
	"sync"
)

// ConfigFromJSON is a ConfigSource over a loader of the JSON document (a
// cached Secrets Manager read in production). The document is parsed again
// only when its bytes change, so the Handler's compiled form is reused.
// It loads nothing for NewHandler (see LoadDeferred).
func ConfigFromJSON(load func(ctx context.Context) ([]byte, error)) ConfigSource {
	var mu sync.Mutex
	var lastDoc []byte
	var last *Config
	return func(ctx context.Context) (*Config, error) {
		if LoadDeferred(ctx) {
			mu.Lock()
			defer mu.Unlock()
			if last == nil {
				return nil, ErrNotLoaded
			}
			return last, nil
		}
		doc, err := load(ctx)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if last != nil && bytes.Equal(doc, lastDoc) {
			return last, nil
		}
		c, err := ParseConfig(doc)
		if err != nil {
			return nil, err
		}
		last, lastDoc = c, bytes.Clone(doc)
		return c, nil
	}
}
