package callback

import (
	"strconv"
	"strings"
	"unsafe"
)

// Reply is a passive reply, written as the body of the push's HTTP
// response with ToUserName and FromUserName swapped from the request. A nil
// Reply means no reply: WeChat is answered `success`.
type Reply interface {
	appendBody(dst []byte) []byte // the elements after MsgType
	msgType() string
}

// TextReply replies with text.
type TextReply struct{ Content string }

// ImageReply replies with an uploaded image.
type ImageReply struct{ MediaID string }

// VoiceReply replies with an uploaded voice clip.
type VoiceReply struct{ MediaID string }

// VideoReply replies with an uploaded video.
type VideoReply struct{ MediaID, Title, Description string }

// MusicReply replies with a music card.
type MusicReply struct{ Title, Description, MusicURL, HQMusicURL, ThumbMediaID string }

// Article is one item of a NewsReply.
type Article struct{ Title, Description, PicURL, URL string }

// NewsReply replies with articles (WeChat shows at most one).
type NewsReply struct{ Articles []Article }

// TransferCustomerServiceReply hands the conversation to the customer
// service system, to KfAccount when set.
type TransferCustomerServiceReply struct{ KfAccount string }

func (TextReply) msgType() string                    { return "text" }
func (ImageReply) msgType() string                   { return "image" }
func (VoiceReply) msgType() string                   { return "voice" }
func (VideoReply) msgType() string                   { return "video" }
func (MusicReply) msgType() string                   { return "music" }
func (NewsReply) msgType() string                    { return "news" }
func (TransferCustomerServiceReply) msgType() string { return "transfer_customer_service" }

func (r TextReply) appendBody(b []byte) []byte { return appendElem(b, "Content", r.Content) }

func (r ImageReply) appendBody(b []byte) []byte {
	b = append(b, "<Image>"...)
	b = appendElem(b, "MediaId", r.MediaID)
	return append(b, "</Image>"...)
}

func (r VoiceReply) appendBody(b []byte) []byte {
	b = append(b, "<Voice>"...)
	b = appendElem(b, "MediaId", r.MediaID)
	return append(b, "</Voice>"...)
}

func (r VideoReply) appendBody(b []byte) []byte {
	b = append(b, "<Video>"...)
	b = appendElem(b, "MediaId", r.MediaID)
	b = appendElem(b, "Title", r.Title)
	b = appendElem(b, "Description", r.Description)
	return append(b, "</Video>"...)
}

func (r MusicReply) appendBody(b []byte) []byte {
	b = append(b, "<Music>"...)
	b = appendElem(b, "Title", r.Title)
	b = appendElem(b, "Description", r.Description)
	b = appendElem(b, "MusicUrl", r.MusicURL)
	b = appendElem(b, "HQMusicUrl", r.HQMusicURL)
	b = appendElem(b, "ThumbMediaId", r.ThumbMediaID)
	return append(b, "</Music>"...)
}

func (r NewsReply) appendBody(b []byte) []byte {
	b = append(b, "<ArticleCount>"...)
	b = strconv.AppendInt(b, int64(len(r.Articles)), 10)
	b = append(b, "</ArticleCount><Articles>"...)
	for _, a := range r.Articles {
		b = append(b, "<item>"...)
		b = appendElem(b, "Title", a.Title)
		b = appendElem(b, "Description", a.Description)
		b = appendElem(b, "PicUrl", a.PicURL)
		b = appendElem(b, "Url", a.URL)
		b = append(b, "</item>"...)
	}
	return append(b, "</Articles>"...)
}

func (r TransferCustomerServiceReply) appendBody(b []byte) []byte {
	if r.KfAccount == "" {
		return b
	}
	b = append(b, "<TransInfo>"...)
	b = appendElem(b, "KfAccount", r.KfAccount)
	return append(b, "</TransInfo>"...)
}

// AppendReply appends the plaintext XML of r answering req to dst, with
// CreateTime now (unix seconds). A nil r appends nothing.
func AppendReply(dst []byte, r Reply, req *Message, now int64) []byte {
	if r == nil {
		return dst
	}
	dst = append(dst, "<xml>"...)
	dst = appendElem(dst, "ToUserName", req.FromUserName)
	dst = appendElem(dst, "FromUserName", req.ToUserName)
	dst = append(dst, "<CreateTime>"...)
	dst = strconv.AppendInt(dst, now, 10)
	dst = append(dst, "</CreateTime>"...)
	dst = appendElem(dst, "MsgType", r.msgType())
	dst = r.appendBody(dst)
	return append(dst, "</xml>"...)
}

// appendElem appends <name><![CDATA[value]]></name>, splitting any "]]>"
// in value across two CDATA sections.
func appendElem(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, "><![CDATA["...)
	for {
		i := strings.Index(value, "]]>")
		if i < 0 {
			break
		}
		b = append(b, value[:i+2]...)
		b = append(b, "]]><![CDATA["...)
		value = value[i+2:]
	}
	b = append(b, value...)
	b = append(b, "]]></"...)
	b = append(b, name...)
	return append(b, '>')
}

// AppendEncryptedReply appends WeChat's encrypted reply envelope for the
// plaintext reply to dst: Encrypt, MsgSignature, TimeStamp and Nonce.
// scratch is reused for the padded plaintext when large enough.
func AppendEncryptedReply(dst, scratch []byte, c *Cipher, token, timestamp, nonce string, random *[16]byte, plain []byte) []byte {
	return appendEncryptedReply(dst, &scratch, c, token, timestamp, nonce, random, plain)
}

func appendEncryptedReply(dst []byte, scratch *[]byte, c *Cipher, token, timestamp, nonce string, random *[16]byte, plain []byte) []byte {
	dst = append(dst, "<xml><Encrypt><![CDATA["...)
	start := len(dst)
	dst = c.appendEncrypt(dst, scratch, random, plain)
	enc := dst[start:]
	var sig [40]byte
	// enc is not modified while it is signed, so a string view is safe.
	sign(&sig, token, timestamp, nonce, unsafe.String(unsafe.SliceData(enc), len(enc)))
	dst = append(dst, "]]></Encrypt><MsgSignature><![CDATA["...)
	dst = append(dst, sig[:]...)
	dst = append(dst, "]]></MsgSignature><TimeStamp>"...)
	dst = append(dst, timestamp...)
	dst = append(dst, "</TimeStamp>"...)
	dst = appendElem(dst, "Nonce", nonce)
	return append(dst, "</xml>"...)
}
