// Package tokenclienttest provides an in-memory tokenclient.Reader, so code
// that takes a *tokenclient.Client can be unit-tested without DynamoDB: Put
// the credentials the test needs, build the client with
// tokenclient.New(reader), and the client caches, expires and reports
// errors exactly as it does over the real table.
package tokenclienttest

import (
	"context"
	"fmt"
	"sync"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
)

var _ tokenclient.Reader = (*Reader)(nil)

type key struct {
	appid string
	kind  credential.Kind
}

// Reader is an in-memory credential store. The zero value is empty and
// ready to use; it is safe for concurrent use.
type Reader struct {
	mu    sync.Mutex
	creds map[key]credential.Credential
	err   error
	reads int
}

// Put stores c under c.AppID and c.Kind, replacing what was there. Store an
// expired credential to see the client refuse it (credential.ErrUnavailable).
func (r *Reader) Put(c credential.Credential) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.creds == nil {
		r.creds = make(map[key]credential.Credential)
	}
	r.creds[key{c.AppID, c.Kind}] = c
}

// Delete removes the credential of appid and kind, if any.
func (r *Reader) Delete(appid string, kind credential.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.creds, key{appid, kind})
}

// Fail makes every Read return err, as a store that cannot be reached; a
// nil err makes reads answer from the stored credentials again.
func (r *Reader) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Reads is how many times Read was called, to check what the client's cache
// saved.
func (r *Reader) Reads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

// Read implements tokenclient.Reader: the stored credential, an error
// wrapping credential.ErrNotFound when there is none, or the error set by
// Fail.
func (r *Reader) Read(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	if err := ctx.Err(); err != nil {
		return credential.Credential{}, err
	}
	if r.err != nil {
		return credential.Credential{}, r.err
	}
	c, ok := r.creds[key{appid, kind}]
	if !ok {
		return credential.Credential{}, fmt.Errorf("tokenclienttest: %s/%s: %w", appid, kind, credential.ErrNotFound)
	}
	return c, nil
}
