package jssdk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// Official example from the JS-SDK documentation (docs/wechat-protocol.md).
const (
	officialTicket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
	officialNonce  = "Wm3WZYTPz0wzccnW"
	officialTS     = 1414587457
	officialURL    = "http://mp.weixin.qq.com?params=value"
	officialSig    = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
)

func TestSign(t *testing.T) {
	tests := []struct {
		name   string
		ticket string
		url    string
		want   string
		equal  bool
	}{
		{"official vector", officialTicket, officialURL, officialSig, true},
		{"fragment dropped", officialTicket, officialURL + "#section-2", officialSig, true},
		{"empty fragment dropped", officialTicket, officialURL + "#", officialSig, true},
		{"other url differs", officialTicket, "http://mp.weixin.qq.com?params=other", officialSig, false},
		{"other ticket differs", officialTicket + "x", officialURL, officialSig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sign(tt.ticket, officialNonce, officialTS, tt.url)
			if (got == tt.want) != tt.equal {
				t.Fatalf("Sign = %s, want equal(%s)=%v", got, tt.want, tt.equal)
			}
		})
	}
}

type ticketFunc func(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error)

func (f ticketFunc) Get(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	return f(ctx, appid, kind)
}

func TestSignerConfig(t *testing.T) {
	var asked []credential.Kind
	src := ticketFunc(func(_ context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
		asked = append(asked, kind)
		if appid != "wxapp" {
			return credential.Credential{}, credential.ErrNotFound
		}
		return credential.Credential{AppID: appid, Kind: kind, Value: officialTicket}, nil
	})
	s := NewSigner(src,
		WithClock(func() time.Time { return time.Unix(officialTS, 0) }),
		WithNonce(func() (string, error) { return officialNonce, nil }))

	cfg, err := s.Config(context.Background(), "wxapp", officialURL+"#x")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{AppID: "wxapp", Timestamp: officialTS, NonceStr: officialNonce, Signature: officialSig}
	if cfg != want {
		t.Fatalf("Config = %+v, want %+v", cfg, want)
	}
	if len(asked) != 1 || asked[0] != credential.JSAPITicket {
		t.Fatalf("asked for kinds %v, want [jsapi_ticket]", asked)
	}

	errCases := []struct {
		name, appid, url, field string
		is                      error
	}{
		{"missing appid", "", officialURL, "appid", nil},
		{"relative url", "wxapp", "/page", "url", nil},
		{"not http", "wxapp", "ftp://x/y", "url", nil},
		{"unknown app", "wxother", officialURL, "jsapi_ticket", credential.ErrNotFound},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Config(context.Background(), tc.appid, tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want one naming %q", err, tc.field)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}

func TestRandomNonce(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n, err := RandomNonce()
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != 16 || strings.Trim(n, nonceAlphabet) != "" {
			t.Fatalf("nonce %q is not 16 alphanumerics", n)
		}
		if seen[n] {
			t.Fatalf("nonce %q repeated", n)
		}
		seen[n] = true
	}
}
