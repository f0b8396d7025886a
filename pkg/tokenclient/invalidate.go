package tokenclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Invalidator asks the refresh function for a forced refresh (docs/refresh.md)
// of a value WeChat rejected, and returns the credential to use now.
// Answers with an `error` field come back as *RefreshError.
type Invalidator interface {
	ForceRefresh(ctx context.Context, appid string, kind credential.Kind, staleToken string) (credential.Credential, error)
}

// InvalidatorFunc adapts a function to Invalidator.
type InvalidatorFunc func(ctx context.Context, appid string, kind credential.Kind, staleToken string) (credential.Credential, error)

// ForceRefresh calls f.
func (f InvalidatorFunc) ForceRefresh(ctx context.Context, appid string, kind credential.Kind, staleToken string) (credential.Credential, error) {
	return f(ctx, appid, kind, staleToken)
}

// ErrNoInvalidator is returned by Invalidate when the Client was built
// without WithInvalidator.
var ErrNoInvalidator = errors.New("tokenclient: no invalidator configured")

// Errors a forced refresh can be refused with; a *RefreshError matches them
// (and credential.ErrNotFound / ErrUnavailable) with errors.Is.
var (
	ErrForceBudgetExhausted = errors.New("forced refresh budget exhausted")
	ErrForceTooSoon         = errors.New("forced refresh too soon")
)

// RefreshError is an `{"error","message"}` answer of the refresh function.
type RefreshError struct {
	Code    string // e.g. "force_budget_exhausted"
	Message string
}

func (e *RefreshError) Error() string {
	if e.Message == "" {
		return "refresh: " + e.Code
	}
	return "refresh: " + e.Code + ": " + e.Message
}

// Is maps the error codes to the package's and credential's sentinels.
func (e *RefreshError) Is(target error) bool {
	switch e.Code {
	case tokenapi.CodeUnknownApp:
		return target == credential.ErrNotFound
	case tokenapi.CodeTokenUnavailable:
		return target == credential.ErrUnavailable
	case tokenapi.CodeForceBudgetExhausted:
		return target == ErrForceBudgetExhausted
	case tokenapi.CodeForceTooSoon:
		return target == ErrForceTooSoon
	}
	return false
}

// DecodeForceAnswer parses the refresh function's answer to a force request
// for appid and kind: a credential, or *RefreshError for an error object.
func DecodeForceAnswer(appid string, kind credential.Kind, payload []byte) (credential.Credential, error) {
	var a tokenapi.Answer
	if err := json.Unmarshal(payload, &a); err != nil {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: decode answer: %w", appid, kind, err)
	}
	if a.Error != "" {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: %w", appid, kind, &RefreshError{Code: a.Error, Message: a.Message})
	}
	if a.Token == "" || a.ExpiresAt <= 0 {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: answer has no token or no expires_at", appid, kind)
	}
	cred := a.Credential()
	if cred.AppID == "" {
		cred.AppID = appid
	}
	if cred.Kind == "" {
		cred.Kind = kind
	}
	return cred, nil
}

// DirectInvalidator speaks the refresh function's direct-invoke protocol
// to an in-process handler (the local stack), exactly as over Lambda.
type DirectInvalidator struct {
	invoke func(ctx context.Context, payload []byte) ([]byte, error)
}

// NewDirectInvalidator returns an Invalidator that passes the force request
// JSON to invoke and decodes its answer.
func NewDirectInvalidator(invoke func(ctx context.Context, payload []byte) ([]byte, error)) *DirectInvalidator {
	return &DirectInvalidator{invoke: invoke}
}

// ForceRefresh implements Invalidator.
func (d *DirectInvalidator) ForceRefresh(ctx context.Context, appid string, kind credential.Kind, staleToken string) (credential.Credential, error) {
	payload, err := json.Marshal(tokenapi.NewForceRequest(appid, kind, staleToken))
	if err != nil {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: encode: %w", appid, kind, err)
	}
	out, err := d.invoke(ctx, payload)
	if err != nil {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: %w", appid, kind, err)
	}
	return DecodeForceAnswer(appid, kind, out)
}

// Invalidate reports that WeChat rejected token (the value of kind for
// appid): it drops the cached value and asks the refresh function for a
// forced refresh, then caches and returns the credential it answers.
// Concurrent reports of the same token in this process share one request.
// Refusals are *RefreshError (errors.Is ErrForceBudgetExhausted,
// ErrForceTooSoon, credential.ErrNotFound, credential.ErrUnavailable).
func (c *Client) Invalidate(ctx context.Context, appid string, kind credential.Kind, token string) (credential.Credential, error) {
	if c.inv == nil {
		return credential.Credential{}, ErrNoInvalidator
	}
	if appid == "" {
		return credential.Credential{}, errors.New("tokenclient: invalidate: appid is empty")
	}
	if kindIndex(kind) < 0 {
		return credential.Credential{}, fmt.Errorf("tokenclient: invalidate %s: kind %q: must be one of access_token, jsapi_ticket, wx_card_ticket", appid, kind)
	}
	if token == "" {
		return credential.Credential{}, fmt.Errorf("tokenclient: invalidate %s/%s: token is empty", appid, kind)
	}
	k := cacheKey{appid, kind}
	c.drop(k)
	rctx := context.WithoutCancel(ctx)
	ch := c.invalidates.DoChan(appid+"\x00"+string(kind)+"\x00"+token, func() (any, error) {
		rctx, cancel := context.WithTimeout(rctx, 30*time.Second)
		defer cancel()
		cred, err := c.inv.ForceRefresh(rctx, appid, kind, token)
		if err != nil {
			return credential.Credential{}, fmt.Errorf("tokenclient: invalidate %s/%s: %w", appid, kind, err)
		}
		now := c.now()
		if !cred.Usable(now) {
			return credential.Credential{}, fmt.Errorf("tokenclient: invalidate %s/%s: refreshed value expires at %s: %w",
				appid, kind, cred.ExpiresAt.UTC().Format(time.RFC3339), credential.ErrUnavailable)
		}
		return c.store(k, cred, cred.CacheUntil(now)), nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return credential.Credential{}, r.Err
		}
		return r.Val.(credential.Credential), nil
	case <-ctx.Done():
		return credential.Credential{}, fmt.Errorf("tokenclient: invalidate %s/%s: %w", appid, kind, ctx.Err())
	}
}

// Do calls fn with appid's access_token. When fn fails because WeChat
// rejected the token (40001, 40014, 42001; see wechat.IsTokenRejected), it
// invalidates that token and calls fn once more with the new one. fn must
// be safe to repeat: a rejected token means WeChat did not act on the call.
func (c *Client) Do(ctx context.Context, appid string, fn func(token string) error) error {
	cred, err := c.Get(ctx, appid, credential.AccessToken)
	if err != nil {
		return err
	}
	err = fn(cred.Value)
	if err == nil || !wechat.IsTokenRejected(err) {
		return err
	}
	c.log.InfoContext(ctx, "access_token rejected; invalidating",
		"appid", appid, "kind", string(credential.AccessToken), "version", cred.Version, "errcode", wechat.ErrorCode(err))
	fresh, ierr := c.Invalidate(ctx, appid, credential.AccessToken, cred.Value)
	if ierr != nil {
		return fmt.Errorf("tokenclient: %s: token rejected (%w); refresh failed: %w", appid, err, ierr)
	}
	return fn(fresh.Value)
}
