package callback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"
)

// This file is the de-duplication protocol (docs/callback.md,
// de-duplication): a push is claimed in the DedupeStore before anything
// runs, a retry of a completed push gets the stored reply, a retry while
// another delivery works waits for it, and a failure releases the claim.

// claimed is an acquired claim: the key it holds and the owner token that
// fences Complete and Release.
type claimed struct{ key, owner string }

// claim takes msg's claim. When the answer is already known (a duplicate
// answered from the stored reply, a delivery still in progress, or a store
// failure) it is returned instead, decided.
func (h *Handler) claim(ctx context.Context, due time.Time, reserve time.Duration, a *app, s *scratch, msg *Message, c *Cipher, nonce string) (claimed, outcome) {
	store := h.opt.Store
	cl := claimed{key: msg.DedupeKey(), owner: newOwner()}
	digest := msg.Digest()
	// collides: the record belongs to another push under the same key (a
	// forged body reusing a MsgId): its reply is not ours to return.
	collides := func(c Claim) bool {
		return c.State == ClaimCompleted && c.Digest != digest ||
			c.State == ClaimInProgress && c.Digest != "" && c.Digest != digest
	}
	derived := false
	// One InProgressWait budget covers every wait: a claim that is
	// released (its handler failed) is taken over, and when the budget
	// runs out while another delivery still works, the answer is success.
	var budget *time.Timer // started at the first wait
	defer func() {
		if budget != nil {
			budget.Stop()
		}
	}()
	for {
		now := h.opt.Clock()
		cctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
		got, err := store.Claim(cctx, a.id, cl.key, ClaimRequest{Owner: cl.owner, Digest: digest, Now: now, Until: now.Add(h.opt.ClaimLease)})
		cancel()
		if err != nil {
			h.logError(ctx, a.id, "dedupe claim", err)
			// A call that timed out may still have been written: release is
			// fenced on our owner, so WeChat's retry need not wait out the lease.
			h.releaseClaim(ctx, due, a.id, cl)
			return cl, reject(http.StatusServiceUnavailable, "store_failed")
		}
		if got.State == ClaimInProgress && !collides(got) {
			if budget == nil {
				// Waiting leaves time to take a released claim over.
				budget = time.NewTimer(min(h.opt.InProgressWait, time.Until(due)-reserve-h.opt.StoreTimeout))
			}
			if got, err = h.waitInProgress(ctx, due, budget, a.id, cl.key); err != nil {
				h.logError(ctx, a.id, "dedupe lookup", err)
				return cl, reject(http.StatusServiceUnavailable, "store_failed")
			}
		}
		if collides(got) {
			if derived { // a second collision needs two equal 64-bit digest prefixes
				h.logError(ctx, a.id, "dedupe", errors.New("key collides twice"))
				return cl, reject(http.StatusServiceUnavailable, "store_failed")
			}
			// A new push: it is de-duplicated under its own key, derived
			// from the plaintext, and the other push's record stays intact.
			cl.key, derived = cl.key+"|"+digest[:16], true
			continue
		}
		switch got.State {
		case ClaimAcquired:
			return cl, outcome{}
		case ClaimCompleted:
			return cl, h.answer(a, s, got.Reply, c, nonce, "duplicate")
		case ClaimInProgress:
			return cl, h.answer(a, s, nil, nil, nonce, "in_progress")
		}
		// Released or expired: try to claim it ourselves.
	}
}

// waitInProgress polls the store until the other delivery completes or
// releases the claim, or the budget timer fires (then: ClaimInProgress).
func (h *Handler) waitInProgress(ctx context.Context, due time.Time, budget *time.Timer, appid, key string) (Claim, error) {
	tick := time.NewTicker(h.opt.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-budget.C:
			return Claim{State: ClaimInProgress}, nil
		case <-ctx.Done():
			return Claim{State: ClaimInProgress}, nil
		case <-tick.C:
		}
		lctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
		claim, err := h.opt.Store.Lookup(lctx, appid, key, h.opt.Clock())
		cancel()
		if err != nil || claim.State != ClaimInProgress {
			return claim, err
		}
	}
}

// complete records the reply of an acquired claim. A claim lost meanwhile
// (our lease ran out and another delivery holds it) is not a failure: the
// push is published and handled, so it is answered; the record is theirs.
func (h *Handler) complete(ctx context.Context, due time.Time, a *app, cl claimed, reply []byte) error {
	cctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
	err := h.opt.Store.Complete(cctx, a.id, cl.key, cl.owner, reply, h.opt.Clock())
	cancel()
	if errors.Is(err, ErrClaimLost) {
		h.logError(ctx, a.id, "dedupe complete", err)
		return nil
	}
	return err
}

// release gives an acquired claim up after a failed stage, so that
// WeChat's retry runs the push again, and answers 503.
func (h *Handler) release(ctx context.Context, due time.Time, a *app, cl *claimed, stage string, err error) outcome {
	h.logError(ctx, a.id, stage, err)
	if cl != nil {
		h.releaseClaim(ctx, due, a.id, *cl)
	}
	return reject(http.StatusServiceUnavailable, stage+"_failed")
}

// releaseClaim drops cl if we still own it, even past the budget: an
// unreleased claim delays WeChat's retry until its lease runs out.
func (h *Handler) releaseClaim(ctx context.Context, due time.Time, appid string, cl claimed) {
	d := min(max(time.Until(due), minReleaseTimeout), h.opt.StoreTimeout)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	if err := h.opt.Store.Release(rctx, appid, cl.key, cl.owner); err != nil {
		h.logError(ctx, appid, "dedupe release", err)
	}
}

// newOwner is a random token naming one delivery's claim.
func newOwner() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
