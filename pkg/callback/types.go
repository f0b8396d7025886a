package callback

// Typed forms of the message and event types of the protocol. Message.Typed
// returns one of them (a value, not a pointer); numbers that do not parse
// are zero, and the text stays available through Message.Get.

// TextMessage is MsgType text.
type TextMessage struct {
	Content   string
	MsgDataID string // set when the message comes from an article
	Idx       string
}

// ImageMessage is MsgType image.
type ImageMessage struct{ PicURL, MediaID string }

// VoiceMessage is MsgType voice; Recognition is set when speech recognition is on.
type VoiceMessage struct{ MediaID, Format, Recognition string }

// VideoMessage is MsgType video or shortvideo (see Message.MsgType).
type VideoMessage struct{ MediaID, ThumbMediaID string }

// LocationMessage is MsgType location.
type LocationMessage struct {
	LocationX, LocationY float64
	Scale                int
	Label                string
}

// LinkMessage is MsgType link.
type LinkMessage struct{ Title, Description, URL string }

// SubscribeEvent is a subscribe event; EventKey (qrscene_…) and Ticket are
// set when the user came from a parametric QR code.
type SubscribeEvent struct{ EventKey, Ticket string }

// UnsubscribeEvent is an unsubscribe event.
type UnsubscribeEvent struct{}

// ScanEvent is SCAN: an already subscribed user scanned a parametric QR code.
type ScanEvent struct{ EventKey, Ticket string }

// LocationEvent is LOCATION: the user's reported position.
type LocationEvent struct{ Latitude, Longitude, Precision float64 }

// ClickEvent is CLICK on a custom menu.
type ClickEvent struct{ EventKey string }

// ViewEvent is VIEW: a menu link was opened; EventKey is the URL.
type ViewEvent struct{ EventKey, MenuID string }

// TemplateSendJobFinishEvent reports a template message delivery.
type TemplateSendJobFinishEvent struct{ MsgID, Status string }

// MassSendJobFinishEvent reports a mass send.
type MassSendJobFinishEvent struct {
	MsgID, Status                                  string
	TotalCount, FilterCount, SentCount, ErrorCount int
}

// ScanCodeEvent is scancode_push or scancode_waitmsg (see Message.Event).
type ScanCodeEvent struct{ EventKey, ScanType, ScanResult string }

// PicEvent is pic_sysphoto, pic_photo_or_album or pic_weixin.
type PicEvent struct {
	EventKey   string
	Count      int
	PicMD5Sums []string
}

// LocationSelectEvent is location_select.
type LocationSelectEvent struct {
	EventKey             string
	LocationX, LocationY float64
	Scale                int
	Label, Poiname       string
}

// ViewMiniprogramEvent is view_miniprogram: a menu opened a mini program page.
type ViewMiniprogramEvent struct{ EventKey, MenuID string }

// Typed returns the typed form of a known message or event type, or nil for
// a type the protocol document does not list (Fields and Raw still hold it).
func (m *Message) Typed() any {
	g := m.Get
	switch m.MsgType {
	case MsgTypeText:
		return TextMessage{Content: m.Content, MsgDataID: g("MsgDataId"), Idx: g("Idx")}
	case MsgTypeImage:
		return ImageMessage{PicURL: g("PicUrl"), MediaID: g("MediaId")}
	case MsgTypeVoice:
		return VoiceMessage{MediaID: g("MediaId"), Format: g("Format"), Recognition: g("Recognition")}
	case MsgTypeVideo, MsgTypeShortVideo:
		return VideoMessage{MediaID: g("MediaId"), ThumbMediaID: g("ThumbMediaId")}
	case MsgTypeLocation:
		return LocationMessage{LocationX: atof(g("Location_X")), LocationY: atof(g("Location_Y")), Scale: atoi(g("Scale")), Label: g("Label")}
	case MsgTypeLink:
		return LinkMessage{Title: g("Title"), Description: g("Description"), URL: g("Url")}
	case MsgTypeEvent:
	default:
		return nil
	}
	switch m.Event {
	case EventSubscribe:
		return SubscribeEvent{EventKey: m.EventKey, Ticket: g("Ticket")}
	case EventUnsubscribe:
		return UnsubscribeEvent{}
	case EventScan:
		return ScanEvent{EventKey: m.EventKey, Ticket: g("Ticket")}
	case EventLocation:
		return LocationEvent{Latitude: atof(g("Latitude")), Longitude: atof(g("Longitude")), Precision: atof(g("Precision"))}
	case EventClick:
		return ClickEvent{EventKey: m.EventKey}
	case EventView:
		return ViewEvent{EventKey: m.EventKey, MenuID: g("MenuId")}
	case EventTemplateSendJobFinish:
		return TemplateSendJobFinishEvent{MsgID: g("MsgID"), Status: g("Status")}
	case EventMassSendJobFinish:
		return MassSendJobFinishEvent{MsgID: g("MsgID"), Status: g("Status"), TotalCount: atoi(g("TotalCount")),
			FilterCount: atoi(g("FilterCount")), SentCount: atoi(g("SentCount")), ErrorCount: atoi(g("ErrorCount"))}
	case EventScanCodePush, EventScanCodeWaitMsg:
		info := m.Children("ScanCodeInfo")
		return ScanCodeEvent{EventKey: m.EventKey, ScanType: childValue(info, "ScanType"), ScanResult: childValue(info, "ScanResult")}
	case EventPicSysPhoto, EventPicPhotoOrAlbum, EventPicWeixin:
		info := m.Children("SendPicsInfo")
		e := PicEvent{EventKey: m.EventKey, Count: atoi(childValue(info, "Count"))}
		for _, f := range info {
			if f.Name == "PicMd5Sum" {
				e.PicMD5Sums = append(e.PicMD5Sums, f.Value)
			}
		}
		return e
	case EventLocationSelect:
		info := m.Children("SendLocationInfo")
		return LocationSelectEvent{EventKey: m.EventKey, LocationX: atof(childValue(info, "Location_X")),
			LocationY: atof(childValue(info, "Location_Y")), Scale: atoi(childValue(info, "Scale")),
			Label: childValue(info, "Label"), Poiname: childValue(info, "Poiname")}
	case EventViewMiniprogram:
		return ViewMiniprogramEvent{EventKey: m.EventKey, MenuID: g("MenuId")}
	}
	return nil
}
