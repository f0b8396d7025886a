package wechat

import (
	"errors"
	"fmt"
)

// Customer-service message types supported by CustomMessage.
const (
	MsgTypeText  = "text"
	MsgTypeImage = "image"
	MsgTypeVoice = "voice"
	MsgTypeNews  = "news"
)

// CustomMessage is the body of POST /cgi-bin/message/custom/send, field for
// field as WeChat expects it. Set MsgType and the one matching payload;
// the helpers TextMessage, ImageMessage and NewsMessage do that.
type CustomMessage struct {
	ToUser  string        `json:"touser"`
	MsgType string        `json:"msgtype"`
	Text    *TextContent  `json:"text,omitempty"`
	Image   *MediaContent `json:"image,omitempty"`
	Voice   *MediaContent `json:"voice,omitempty"`
	News    *NewsContent  `json:"news,omitempty"`
}

// TextContent is the payload of a text message.
type TextContent struct {
	Content string `json:"content"`
}

// MediaContent names an uploaded media file (image, voice).
type MediaContent struct {
	MediaID string `json:"media_id"`
}

// NewsContent is the payload of a news (link card) message; WeChat shows
// only the first article in a customer-service message.
type NewsContent struct {
	Articles []Article `json:"articles"`
}

// Article is one link card of a news message.
type Article struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	PicURL      string `json:"picurl,omitempty"`
}

// TextMessage builds a text customer-service message to openid.
func TextMessage(openid, content string) CustomMessage {
	return CustomMessage{ToUser: openid, MsgType: MsgTypeText, Text: &TextContent{Content: content}}
}

// ImageMessage builds an image customer-service message to openid.
func ImageMessage(openid, mediaID string) CustomMessage {
	return CustomMessage{ToUser: openid, MsgType: MsgTypeImage, Image: &MediaContent{MediaID: mediaID}}
}

// NewsMessage builds a news customer-service message to openid.
func NewsMessage(openid string, articles ...Article) CustomMessage {
	return CustomMessage{ToUser: openid, MsgType: MsgTypeNews, News: &NewsContent{Articles: articles}}
}

// Validate checks that the message names a recipient and carries the
// payload its MsgType calls for. Errors name the field, never its content.
func (m CustomMessage) Validate() error {
	if m.ToUser == "" {
		return errors.New("touser is empty")
	}
	switch m.MsgType {
	case MsgTypeText:
		if m.Text == nil || m.Text.Content == "" {
			return errors.New("text.content is empty")
		}
	case MsgTypeImage:
		if m.Image == nil || m.Image.MediaID == "" {
			return errors.New("image.media_id is empty")
		}
	case MsgTypeVoice:
		if m.Voice == nil || m.Voice.MediaID == "" {
			return errors.New("voice.media_id is empty")
		}
	case MsgTypeNews:
		if m.News == nil || len(m.News.Articles) == 0 {
			return errors.New("news.articles is empty")
		}
		for i, a := range m.News.Articles {
			if a.Title == "" || a.URL == "" {
				return fmt.Errorf("news.articles[%d]: title and url are required", i)
			}
		}
	case "":
		return errors.New("msgtype is empty")
	default:
		return fmt.Errorf("msgtype %q is not supported", m.MsgType)
	}
	return nil
}

// UserInfo is a follower's profile from GET /cgi-bin/user/info. Since 2021
// WeChat no longer returns nickname or avatar here.
type UserInfo struct {
	Subscribe      int    `json:"subscribe"` // 0: not following (other fields empty)
	OpenID         string `json:"openid"`
	Language       string `json:"language,omitempty"`
	SubscribeTime  int64  `json:"subscribe_time,omitempty"` // unix seconds
	UnionID        string `json:"unionid,omitempty"`
	Remark         string `json:"remark,omitempty"`
	GroupID        int    `json:"groupid,omitempty"`
	TagIDList      []int  `json:"tagid_list,omitempty"`
	SubscribeScene string `json:"subscribe_scene,omitempty"`
	QRScene        int64  `json:"qr_scene,omitempty"`
	QRSceneStr     string `json:"qr_scene_str,omitempty"`
}
