package callback

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// Errors returned by Cipher.Decrypt. Those wrapping ErrMalformed describe
// content that cannot be decoded (HTTP 400); ErrAppIDMismatch is an
// authenticity failure (HTTP 403).
var (
	ErrMalformed     = errors.New("malformed message")
	ErrBadBase64     = fmt.Errorf("%w: Encrypt is not valid base64", ErrMalformed)
	ErrBadCipherText = fmt.Errorf("%w: Encrypt is not a whole number of AES blocks", ErrMalformed)
	ErrBadPadding    = fmt.Errorf("%w: Encrypt has invalid PKCS#7 padding", ErrMalformed)
	ErrBadLength     = fmt.Errorf("%w: Encrypt length field is past the data", ErrMalformed)
	ErrAppIDMismatch = errors.New("callback: AppID inside Encrypt does not match the account")
)

// padBlock is WeChat's PKCS#7 block size: 32 bytes, not AES's 16.
const padBlock = 32

// Cipher is WeChat's message encryption for one AppID and one
// EncodingAESKey: AES-256-CBC with IV = the first 16 key bytes over
// random(16) ‖ uint32 big-endian length ‖ message ‖ AppID, PKCS#7 padded to
// 32 bytes. A Cipher is safe for concurrent use.
type Cipher struct {
	block cipher.Block
	iv    [aes.BlockSize]byte
	appID string
	// CBC modes are reset to the fixed IV and reused: creating one allocates.
	encPool, decPool sync.Pool
}

type ivSetter interface {
	cipher.BlockMode
	SetIV([]byte)
}

// NewCipher returns the Cipher for encodingAESKey (43 base64 characters)
// and appID. The error names the problem, never the key.
func NewCipher(encodingAESKey, appID string) (*Cipher, error) {
	key, err := DecodeAESKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	if appID == "" {
		return nil, errors.New("callback: empty AppID")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("callback: AES key: %w", err)
	}
	c := &Cipher{block: block, appID: appID}
	copy(c.iv[:], key[:aes.BlockSize])
	return c, nil
}

// DecodeAESKey decodes a 43-character EncodingAESKey into the 32-byte AES key.
func DecodeAESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, errors.New("callback: EncodingAESKey must be 43 base64 characters")
	}
	for i := 0; i < len(encodingAESKey); i++ {
		c := encodingAESKey[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("callback: EncodingAESKey must be 43 base64 characters")
		}
	}
	// WeChat keys leave non-zero bits in the last character, so decode
	// leniently (StdEncoding, not Strict).
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("callback: EncodingAESKey must be 43 base64 characters")
	}
	return key, nil
}

// AppID is the AppID this Cipher embeds and checks.
func (c *Cipher) AppID() string { return c.appID }

// Decrypt decodes and decrypts the base64 Encrypt text and returns the
// message, after checking the padding, the length field and the AppID.
func (c *Cipher) Decrypt(encrypt string) ([]byte, error) {
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(encrypt)))
	_, msg, err := c.open(buf, []byte(encrypt))
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// open decrypts encrypt into buf (at least DecodedLen(len(encrypt)) bytes)
// and returns the 16 random bytes and the message, both aliasing buf.
func (c *Cipher) open(buf, encrypt []byte) (random, msg []byte, err error) {
	n, err := base64.StdEncoding.Decode(buf, encrypt)
	if err != nil {
		return nil, nil, ErrBadBase64
	}
	data := buf[:n]
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, nil, ErrBadCipherText
	}
	c.cbc(&c.decPool, false).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > padBlock || pad > len(data) {
		return nil, nil, ErrBadPadding
	}
	for _, b := range data[len(data)-pad:] {
		if int(b) != pad {
			return nil, nil, ErrBadPadding
		}
	}
	data = data[:len(data)-pad]
	if len(data) < 20 {
		return nil, nil, ErrBadLength
	}
	size := binary.BigEndian.Uint32(data[16:20])
	if uint64(size) > uint64(len(data)-20) {
		return nil, nil, ErrBadLength
	}
	msg = data[20 : 20+int(size)]
	if string(data[20+int(size):]) != c.appID {
		return nil, nil, ErrAppIDMismatch
	}
	return data[:16], msg, nil
}

// Encrypt returns the base64 Encrypt text for msg with the given 16 random
// bytes (use crypto/rand; fixed values are for test vectors only).
func (c *Cipher) Encrypt(random [16]byte, msg []byte) string {
	var scratch []byte
	return string(c.appendEncrypt(nil, &scratch, &random, msg))
}

// sealedLen is the length of the padded plaintext for a message of n bytes.
func (c *Cipher) sealedLen(n int) int {
	l := 16 + 4 + n + len(c.appID)
	return l + padBlock - l%padBlock
}

// appendEncrypt appends the base64 Encrypt text for msg to dst, using
// scratch (grown if needed) for the plaintext; it returns dst.
func (c *Cipher) appendEncrypt(dst []byte, scratch *[]byte, random *[16]byte, msg []byte) []byte {
	total := c.sealedLen(len(msg))
	if cap(*scratch) < total {
		*scratch = make([]byte, 0, total)
	}
	p := (*scratch)[:0]
	p = append(p, random[:]...)
	p = binary.BigEndian.AppendUint32(p, uint32(len(msg)))
	p = append(p, msg...)
	p = append(p, c.appID...)
	pad := total - len(p)
	for i := 0; i < pad; i++ {
		p = append(p, byte(pad))
	}
	c.cbc(&c.encPool, true).CryptBlocks(p, p)
	return base64.StdEncoding.AppendEncode(dst, p)
}

// cbcMode is a CBC mode set to the IV; CryptBlocks returns it to its pool.
type cbcMode struct {
	mode cipher.BlockMode
	pool *sync.Pool
}

// CryptBlocks runs the mode over src into dst and returns it to its pool.
func (m cbcMode) CryptBlocks(dst, src []byte) {
	m.mode.CryptBlocks(dst, src)
	if m.pool != nil {
		m.pool.Put(m.mode)
	}
}

func (c *Cipher) cbc(pool *sync.Pool, encrypt bool) cbcMode {
	if m, ok := pool.Get().(ivSetter); ok {
		m.SetIV(c.iv[:])
		return cbcMode{m, pool}
	}
	var m cipher.BlockMode
	if encrypt {
		m = cipher.NewCBCEncrypter(c.block, c.iv[:])
	} else {
		m = cipher.NewCBCDecrypter(c.block, c.iv[:])
	}
	if _, ok := m.(ivSetter); !ok {
		pool = nil // cannot be reset, so not reusable
	}
	return cbcMode{m, pool}
}

func cbcEncrypter(b cipher.Block, iv []byte) cipher.BlockMode { return cipher.NewCBCEncrypter(b, iv) }
