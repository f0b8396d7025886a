package callback

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// Vectors V1–V4 of docs/wechat-protocol.md.
const (
	v2Token   = "AAAAA"
	v2Key     = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	v2AppID   = "wxba5fad812f8e6fb9"
	v2Encrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	v2Msg     = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`

	v3Key     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	v3AppID   = "wxb11529c136998cb6"
	v3Encrypt = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="

	v4Token   = "spamtest"
	v4AppID   = "wx2c2769f8efd9abc2"
	v4TS      = "1409735669"
	v4Nonce   = "1320562132"
	v4Sig     = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
	v4MsgSig  = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
	v4Encrypt = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
	v4Body    = `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[` + v4Encrypt + `]]></Encrypt></xml>`
)

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name, token, ts, nonce, encrypt, want string
	}{
		{"V1 handshake", "AAAAA", "1714037059", "486452656", "", "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
		{"V2 signature", v2Token, "1714112445", "415670741", "", "6c5c811b55cc85e0e1b54100749188c20beb3f5d"},
		{"V2 msg_signature", v2Token, "1714112445", "415670741", v2Encrypt, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"},
		{"V2 reply MsgSignature", v2Token, "1713424427", "415670741", "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==", "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"},
		{"V3 signature", "pamtest", "1409304348", "xxxxxx", "", "76480565cbe296026c53aaacd1ad523a1ddba24f"},
		{"V3 msg_signature", "pamtest", "1409304348", "xxxxxx", v3Encrypt, "82c962d39941aa48552f90ef55aa323dc620cc10"},
		{"V4 signature", v4Token, v4TS, v4Nonce, "", v4Sig},
		{"V4 msg_signature", v4Token, v4TS, v4Nonce, v4Encrypt, v4MsgSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var ok bool
			if tt.encrypt == "" {
				got = Signature(tt.token, tt.ts, tt.nonce)
				ok = VerifySignature(tt.want, tt.token, tt.ts, tt.nonce)
			} else {
				got = MsgSignature(tt.token, tt.ts, tt.nonce, tt.encrypt)
				ok = VerifyMsgSignature(tt.want, tt.token, tt.ts, tt.nonce, tt.encrypt)
			}
			if got != tt.want || !ok {
				t.Fatalf("got %s (verify %v), want %s", got, ok, tt.want)
			}
			bad := []byte(tt.want)
			bad[39] ^= 1
			for _, s := range []string{string(bad), tt.want[:39], "", strings.ToUpper(tt.want)} {
				if VerifySignature(s, tt.token, tt.ts, tt.nonce) && tt.encrypt == "" ||
					VerifyMsgSignature(s, tt.token, tt.ts, tt.nonce, tt.encrypt) && tt.encrypt != "" {
					t.Errorf("verify accepted %q", s)
				}
			}
		})
	}
}

func TestDecryptVectors(t *testing.T) {
	tests := []struct {
		name, key, appID, encrypt, random string
		length                            int
		want                              string // whole message, or "" to check by parts
	}{
		{"V2 request", v2Key, v2AppID, v2Encrypt, "a8eedb185eb2fecf", 167, v2Msg},
		{"V2 reply", v2Key, v2AppID, "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==", "707722b803182950", 25, `{"demo_resp":"good luck"}`},
		{"V3", v3Key, v3AppID, v3Encrypt, "aaaabbbbccccdddd", len("我是中文abcd123"), "我是中文abcd123"},
		{"V4", v3Key, v4AppID, v4Encrypt, "89465c840c5f116f", 280, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCipher(tt.key, tt.appID)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(tt.encrypt))
			random, msg, err := c.open(buf, []byte(tt.encrypt))
			if err != nil {
				t.Fatal(err)
			}
			if string(random) != tt.random || len(msg) != tt.length {
				t.Fatalf("random %q length %d, want %q %d", random, len(msg), tt.random, tt.length)
			}
			if tt.want != "" && string(msg) != tt.want {
				t.Fatalf("message %q, want %q", msg, tt.want)
			}
			if tt.want == "" {
				// V4: the plaintext fields of the compat body, one per line.
				for _, part := range []string{"<ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n", "<Content><![CDATA[abcdteT]]></Content>\n", "<MsgId>6054768590064713728</MsgId>\n"} {
					if !strings.Contains(string(msg), part) {
						t.Errorf("V4 plaintext lacks %q", part)
					}
				}
			}
			// Encrypting with the same random bytes reproduces the vector.
			var r [16]byte
			copy(r[:], random)
			if got := c.Encrypt(r, msg); got != tt.encrypt {
				t.Fatalf("Encrypt = %s, want %s", got, tt.encrypt)
			}
			plain, err := c.Decrypt(tt.encrypt)
			if err != nil || !bytes.Equal(plain, msg) {
				t.Fatalf("Decrypt = %q, %v", plain, err)
			}
		})
	}
}

func TestRoundTripRandomMessages(t *testing.T) {
	c, err := NewCipher(v3Key, v3AppID)
	if err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	sizes := []int{0, 1, 11, 12, 15, 16, 31, 32, 33, 4095, 4096}
	for i := 0; i < 300; i++ {
		sizes = append(sizes, rng.IntN(4097))
	}
	for _, n := range sizes {
		msg := make([]byte, n)
		rand.Read(msg)
		var r [16]byte
		rand.Read(r[:])
		enc := c.Encrypt(r, msg)
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%32 != 0 {
			t.Fatalf("size %d: ciphertext %d bytes, not a multiple of 32", n, len(raw))
		}
		got, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("size %d: round trip failed: %v", n, err)
		}
	}
}

// sealRaw encrypts an arbitrary plaintext (already padded or not) with the
// cipher's key and IV, to build malformed ciphertexts.
func sealRaw(c *Cipher, plain []byte) string {
	p := append([]byte(nil), plain...)
	cbcEncrypter(c.block, c.iv[:]).CryptBlocks(p, p)
	return base64.StdEncoding.EncodeToString(p)
}

// plaintext builds random ‖ length ‖ msg ‖ appid with a chosen length field.
func plaintext(msg, appID string, length uint32) []byte {
	p := make([]byte, 16, 64)
	p = binary.BigEndian.AppendUint32(p, length)
	p = append(p, msg...)
	return append(p, appID...)
}

// pad applies 32-byte PKCS#7 padding, then overwrites the last byte with
// padByte unless padByte is 0xff ("keep the correct padding").
func pad(p []byte, padByte byte) []byte {
	n := 32 - len(p)%32
	for i := 0; i < n; i++ {
		p = append(p, byte(n))
	}
	if padByte != 0xff {
		p[len(p)-1] = padByte
	}
	return p
}

func TestDecryptRejects(t *testing.T) {
	c, _ := NewCipher(v3Key, v3AppID)
	other, _ := NewCipher(v3Key, "wx0123456789abcdef")
	valid := plaintext("<xml/>", v3AppID, 6)
	tests := []struct {
		name    string
		encrypt string
		want    error
	}{
		{"bad base64", "not*base64!", ErrBadBase64},
		{"empty", "", ErrBadCipherText},
		{"not a block multiple", base64.StdEncoding.EncodeToString(make([]byte, 20)), ErrBadCipherText},
		{"pad byte 0", sealRaw(c, pad(append([]byte(nil), valid...), 0)), ErrBadPadding},
		{"pad byte 33", sealRaw(c, pad(append([]byte(nil), valid...), 33)), ErrBadPadding},
		{"pad byte 200", sealRaw(c, pad(append([]byte(nil), valid...), 200)), ErrBadPadding},
		{"inconsistent pad bytes", func() string {
			p := pad(append([]byte(nil), valid...), 0)
			n := len(p) - len(valid)
			for i := len(valid); i < len(p); i++ {
				p[i] = byte(n)
			}
			p[len(valid)] ^= 1
			return sealRaw(c, p)
		}(), ErrBadPadding},
		{"length past the data", sealRaw(c, pad(plaintext("<xml/>", v3AppID, 6+uint32(len(v3AppID))+1), 0xff)), ErrBadLength},
		{"huge length", sealRaw(c, pad(plaintext("<xml/>", v3AppID, 0xffffffff), 0xff)), ErrBadLength},
		{"too short for the length field", sealRaw(c, pad(make([]byte, 10), 0xff)), ErrBadLength},
		{"other appid", other.Encrypt([16]byte{}, []byte("<xml/>")), ErrAppIDMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decrypt(tt.encrypt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewCipherRejectsKeys(t *testing.T) {
	for _, key := range []string{"", v3Key[:42], v3Key + "A", v3Key[:42] + "=", v3Key[:42] + "-"} {
		if _, err := NewCipher(key, v3AppID); err == nil {
			t.Errorf("NewCipher accepted a %d-char key", len(key))
		} else if strings.Contains(err.Error(), v3Key[:10]) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
}
