package tokenclient

import (
	"context"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// RecordGetter reads a whole credential item; *dynamo.CredentialStore is
// one. It returns an error wrapping credential.ErrNotFound when absent.
type RecordGetter interface {
	Get(ctx context.Context, appid string, kind credential.Kind, consistent bool) (credential.Record, error)
}

// StoreReader is a Reader over a RecordGetter (the DynamoDB table).
type StoreReader struct {
	store      RecordGetter
	consistent bool
}

// NewStoreReader returns a Reader using eventually consistent reads, which
// suit readers: the refresher commits well before a value expires, and a
// forced refresh answers the new value directly.
func NewStoreReader(store RecordGetter) *StoreReader { return &StoreReader{store: store} }

// Consistent makes r use strongly consistent reads.
func (r *StoreReader) Consistent() *StoreReader {
	return &StoreReader{store: r.store, consistent: true}
}

// Read implements Reader.
func (r *StoreReader) Read(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	rec, err := r.store.Get(ctx, appid, kind, r.consistent)
	if err != nil {
		return credential.Credential{}, err
	}
	return rec.Credential, nil
}
