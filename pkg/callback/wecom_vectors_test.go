package callback_test

import (
	"errors"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// WeCom's published callback sample (企业微信 "加解密方案说明", 举例说明, and the
// Sample files of its WXBizMsgCrypt libraries): the same AES-256-CBC scheme
// as an Official Account's, with the corpid as the receive id.
const (
	wecomToken  = "QDG6eK"
	wecomKey    = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	wecomCorpID = "wx5823bf96d3bd56c7"

	// URL check: GET ?msg_signature=&timestamp=&nonce=&echostr= (echostr
	// URL-decoded), answered with the decrypted plaintext.
	wecomEchoSig       = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	wecomEchoTimestamp = "1409659589"
	wecomEchoNonce     = "263014780"
	wecomEchoStr       = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	wecomEchoPlain     = "1616140317555161061"

	// POST push: the Encrypt element of the body.
	wecomPushSig       = "477715d11cdb4164915debcba66cb864d751f3e6"
	wecomPushTimestamp = "1409659813"
	wecomPushNonce     = "1372623149"
	wecomPushEncrypt   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	wecomPushPlain     = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n" +
		"<FromUserName><![CDATA[mycreate]]></FromUserName>\n" +
		"<CreateTime>1409659813</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n" +
		"<Content><![CDATA[hello]]></Content>\n" +
		"<MsgId>4561255354251345929</MsgId>\n" +
		"<AgentID>218</AgentID>\n" +
		"</xml>"
)

func TestWeComPublishedVectors(t *testing.T) {
	c, err := callback.NewCipher(wecomKey, wecomCorpID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name, sig, timestamp, nonce, encrypt, plain string
	}{
		{"url check echostr", wecomEchoSig, wecomEchoTimestamp, wecomEchoNonce, wecomEchoStr, wecomEchoPlain},
		{"push", wecomPushSig, wecomPushTimestamp, wecomPushNonce, wecomPushEncrypt, wecomPushPlain},
	} {
		t.Run(v.name, func(t *testing.T) {
			if got := callback.MsgSignature(wecomToken, v.timestamp, v.nonce, v.encrypt); got != v.sig {
				t.Errorf("MsgSignature = %s, want %s", got, v.sig)
			}
			if !callback.VerifyMsgSignature(v.sig, wecomToken, v.timestamp, v.nonce, v.encrypt) {
				t.Error("VerifyMsgSignature rejects the published signature")
			}
			if callback.VerifyMsgSignature(v.sig, wecomToken, v.timestamp, v.nonce+"0", v.encrypt) {
				t.Error("VerifyMsgSignature accepts the signature for another nonce")
			}
			msg, err := c.Decrypt(v.encrypt)
			if err != nil {
				t.Fatalf("Decrypt with receive id %s: %v", wecomCorpID, err)
			}
			if string(msg) != v.plain {
				t.Errorf("Decrypt = %q, want %q", msg, v.plain)
			}
			// The receive id is checked: another corp's cipher with the same
			// key must refuse the message.
			other, err := callback.NewCipher(wecomKey, "ww0000000000000000")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Decrypt(v.encrypt); !errors.Is(err, callback.ErrAppIDMismatch) {
				t.Errorf("Decrypt with another receive id: err = %v, want ErrAppIDMismatch", err)
			}
		})
	}
}

// A reply sealed for the corp decrypts back with the corp's receive id, and
// its msg_signature verifies: the reply path of WeCom's passive answers.
func TestWeComReplyRoundTripsWithCorpIDAsReceiveID(t *testing.T) {
	c, err := callback.NewCipher(wecomKey, wecomCorpID)
	if err != nil {
		t.Fatal(err)
	}
	reply := []byte("<xml><ToUserName><![CDATA[mycreate]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[中文 reply]]></Content></xml>")
	enc := c.Encrypt([16]byte{'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c', 'c', 'c', 'c', 'd', 'd', 'd', 'd'}, reply)
	got, err := c.Decrypt(enc)
	if err != nil || string(got) != string(reply) {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	sig := callback.MsgSignature(wecomToken, wecomPushTimestamp, wecomPushNonce, enc)
	if !callback.VerifyMsgSignature(sig, wecomToken, wecomPushTimestamp, wecomPushNonce, enc) {
		t.Error("reply msg_signature does not verify")
	}
}
