package tokenclient

import (
	"context"
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// LastFailureError says why an item holds no value yet: the failure the
// refresher recorded (last_error_*), typically a configuration problem on
// the first fetch such as an IP not on WeChat's whitelist (40164). It
// matches credential.ErrUnavailable. Message is WeChat's errmsg as the
// refresher stored it, which never holds a secret or token.
type LastFailureError struct {
	AppID   string
	Kind    credential.Kind
	Code    int
	Message string
	At      time.Time
}

func (e *LastFailureError) Error() string {
	return fmt.Sprintf("%s/%s has no value yet; the last refresh failed at %s: %s",
		e.AppID, e.Kind, e.At.UTC().Format(time.RFC3339), e.Message)
}

// Unwrap makes errors.Is(err, credential.ErrUnavailable) hold.
func (e *LastFailureError) Unwrap() error { return credential.ErrUnavailable }

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
	if rec.Value == "" && (rec.LastErrorCode != 0 || rec.LastError != "") {
		return credential.Credential{}, &LastFailureError{AppID: appid, Kind: kind,
			Code: rec.LastErrorCode, Message: rec.LastError, At: rec.LastErrorAt}
	}
	return rec.Credential, nil
}
