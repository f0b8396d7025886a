package callback

import (
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback/internal/xmlscan"
)

// TestReplyRandomIsFreshPerReply: with the default crypto/rand, every
// reply gets its own 16 random bytes, though the scratch holding them is
// reused.
func TestReplyRandomIsFreshPerReply(t *testing.T) {
	h, err := NewHandler(Options{Config: StaticConfig(&Config{Apps: []AppConfig{{AppID: v4AppID, Token: "tok", EncodingAESKey: v3Key}}})})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCipher(v3Key, v4AppID)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{id: v4AppID, token: "tok"}
	s := new(scratch)
	seen := map[[16]byte]bool{}
	for i := 0; i < 50; i++ {
		o := h.answer(a, s, []byte("<xml><Content>x</Content></xml>"), c, "nonce", "replied")
		fields, err := parseXML(string(o.body), nil)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := xmlscan.Top(fields, "Encrypt")
		buf := make([]byte, len(enc))
		random, _, err := c.open(buf, []byte(enc))
		if err != nil {
			t.Fatal(err)
		}
		r := [16]byte(random)
		if seen[r] || r == [16]byte{} {
			t.Fatalf("reply %d reuses random bytes %x", i, r)
		}
		seen[r] = true
	}
}
