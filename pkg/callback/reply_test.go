package callback

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestReplies(t *testing.T) {
	req := &Message{ToUserName: "gh_account", FromUserName: "oUser"}
	head := `<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName><CreateTime>1700000000</CreateTime>`
	tests := []struct {
		name  string
		reply Reply
		want  string
	}{
		{"none", nil, ""},
		{"text", TextReply{Content: "hi ]]> there"}, head + `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi ]]]]><![CDATA[> there]]></Content></xml>`},
		{"image", ImageReply{MediaID: "m"}, head + `<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[m]]></MediaId></Image></xml>`},
		{"voice", VoiceReply{MediaID: "m"}, head + `<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[m]]></MediaId></Voice></xml>`},
		{"video", VideoReply{MediaID: "m", Title: "t", Description: "d"}, head + `<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[m]]></MediaId><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description></Video></xml>`},
		{"music", MusicReply{Title: "t", Description: "d", MusicURL: "u", HQMusicURL: "h", ThumbMediaID: "th"}, head + `<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><MusicUrl><![CDATA[u]]></MusicUrl><HQMusicUrl><![CDATA[h]]></HQMusicUrl><ThumbMediaId><![CDATA[th]]></ThumbMediaId></Music></xml>`},
		{"news", NewsReply{Articles: []Article{{Title: "t", Description: "d", PicURL: "p", URL: "u"}}}, head + `<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><PicUrl><![CDATA[p]]></PicUrl><Url><![CDATA[u]]></Url></item></Articles></xml>`},
		{"transfer", TransferCustomerServiceReply{}, head + `<MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>`},
		{"transfer to account", TransferCustomerServiceReply{KfAccount: "kf@x"}, head + `<MsgType><![CDATA[transfer_customer_service]]></MsgType><TransInfo><KfAccount><![CDATA[kf@x]]></KfAccount></TransInfo></xml>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendReply(nil, tt.reply, req, 1700000000))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if got == "" {
				return
			}
			m, err := ParseMessage([]byte(got))
			if err != nil || m.ToUserName != "oUser" || m.FromUserName != "gh_account" {
				t.Fatalf("reply does not parse back: %v %+v", err, m)
			}
			if tt.name == "text" && m.Content != "hi ]]> there" {
				t.Fatalf("CDATA split lost text: %q", m.Content)
			}
			if err := xml.Unmarshal([]byte(got), new(struct{})); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// V2: the official encrypted reply.
func TestEncryptedReplyVector(t *testing.T) {
	c, _ := NewCipher(v2Key, v2AppID)
	var r [16]byte
	copy(r[:], "707722b803182950")
	got := string(AppendEncryptedReply(nil, nil, c, v2Token, "1713424427", "415670741", &r, []byte(`{"demo_resp":"good luck"}`)))
	want := `<xml><Encrypt><![CDATA[ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==]]></Encrypt>` +
		`<MsgSignature><![CDATA[1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1]]></MsgSignature><TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if strings.Contains(got, "good luck") {
		t.Fatal("plaintext leaked into the envelope")
	}
}
