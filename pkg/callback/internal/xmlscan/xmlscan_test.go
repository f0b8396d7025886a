package xmlscan

import (
	"encoding/xml"
	"errors"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// v4Body is the compatible-mode text push of WeChat's published example
// (V4 of the protocol notes).
const v4Body = `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>`

const common = `<ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1714112445</CreateTime>`

// FuzzXMLDifferential: whenever the fast scanner accepts an input,
// encoding/xml (through Reference) accepts it too and yields the same
// fields; when it declines, Parse answers what encoding/xml does.
func FuzzXMLDifferential(f *testing.F) {
	for _, s := range []string{v4Body, "<xml><a>&lt;x&gt;</a><b><c>1</c></b></xml>", "<xml>\n<a><![CDATA[]]]]><![CDATA[>]]></a>\n</xml>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDifferential(t, data)
		got, err := Parse(string(data), nil)
		ref, refErr := Reference(data)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("%q: Parse err %v, encoding/xml err %v", data, err, refErr)
		}
		if err != nil && !errors.Is(err, ErrNotXML) && !errors.Is(err, ErrDoctype) {
			t.Fatalf("%q: error %v wraps neither ErrNotXML nor ErrDoctype", data, err)
		}
		if err == nil && len(got) != len(ref) {
			t.Fatalf("%q: %d fields, encoding/xml %d", data, len(got), len(ref))
		}
	})
}

// TestFastScannerAgrees checks hand-picked inputs; FuzzXMLDifferential
// explores the rest.
func TestFastScannerAgrees(t *testing.T) {
	inputs := []string{
		"<xml/>", " \n<xml>\t</xml>\n", "<xml><a>x<![CDATA[y]]>z</a></xml>", "<xml><a>&lt;&amp;&gt;&quot;&apos;</a></xml>",
		"<xml><a>1</a>text<b/></xml>", "<xml><a >1</a ><b/></xml>", "<x.y-z_1><a_b>v</a_b></x.y-z_1>",
		"<xml><a><![CDATA[]]></a></xml>", "<xml><a>]]</a></xml>", "<xml><a>]]></a></xml>", "<xml><a>&#x41;</a></xml>",
		"<xml>\r\n<a>1</a></xml>", "<?xml version=\"1.0\"?><xml/>", "<xml><!-- c --><a>1</a></xml>", "<xml a=\"1\"><b>2</b></xml>",
		"<xml><a>\u00e9\U0001F600</a></xml>", "<xml><a>\uFFFE</a></xml>", "<x:ml/>", "<xml><é>1</é></xml>",
	}
	for _, in := range inputs {
		checkDifferential(t, []byte(in))
	}
}

func checkDifferential(t *testing.T, data []byte) {
	t.Helper()
	ref, refErr := Reference(data)
	fast, fastErr := scanFast(string(data), nil)
	if fastErr == errFallback {
		return // Parse uses the reference for this input
	}
	if fastErr != nil {
		t.Fatalf("%q: fast scanner error %v (it only declines)", data, fastErr)
	}
	if refErr != nil {
		t.Fatalf("%q: fast scanner accepted what encoding/xml rejects: %v", data, refErr)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%q:\nfast %+v\nref  %+v", data, fast, ref)
	}
	// And the reference itself is encoding/xml's view: a decoder accepts it.
	if err := xml.Unmarshal(data, new(struct{})); err != nil {
		t.Fatalf("%q: encoding/xml.Unmarshal rejects: %v", data, err)
	}
}

func TestValidCharsMatchesRuneCheck(t *testing.T) {
	ref := func(s string) bool {
		for i, r := range s {
			if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") || r == '\r' || !xmlChar(r) {
				return false
			}
		}
		return true
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	alphabet := []string{"a", " ", "\t", "\n", "\r", "\x00", "\x1f", "\x7f", "é", "你", "\uFFFD", "\uFFFE", "\xff", "\xe4\xbd", "\U0001F600"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		if got, want := validChars(s), ref(s); got != want {
			t.Fatalf("validChars(%q) = %v, want %v", s, got, want)
		}
	}
}

// The shapes WeChat sends stay on the fast path.
func TestFastPathCoversWeChatShapes(t *testing.T) {
	for _, s := range []string{v4Body, "<xml>\n<a><![CDATA[x]]></a>\n<b>1</b>\n<c><d>2</d>\n</c>\n</xml>",
		"<xml>" + common + "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a &amp; b]]></Content></xml>"} {
		if _, err := scanFast(s, nil); err != nil {
			t.Errorf("%q: fast path declined: %v", s, err)
		}
	}
	many := "<xml><a>" + strings.Repeat("x<![CDATA[y]]>", 10) + "</a></xml>"
	if _, err := scanFast(many, nil); err != errFallback {
		t.Errorf("many text pieces stayed on the fast path")
	}
	if f, err := Parse(many, nil); err != nil || f[1].Value != strings.Repeat("xy", 10) {
		t.Errorf("fallback result %v %v", f, err)
	}
}

func TestScanCDATAMatchesIndexAndValidChars(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	alphabet := []string{"a", "]", "]]", ">", "]]>", " ", "\t", "\n", "\x00", "\x1f", "\x7f", "你", "\uFFFE", "\xff", "0123456789abcdef"}
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := rng.IntN(30); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		wantEnd := strings.Index(s, "]]>")
		wantOK := wantEnd >= 0 && validChars(s[:wantEnd])
		end, ok := scanCDATA(s)
		if ok != wantOK || ok && end != wantEnd {
			t.Fatalf("scanCDATA(%q) = %d %v, want %d %v", s, end, ok, wantEnd, wantOK)
		}
	}
}

// The word-at-a-time loops jump to the first special byte of a word: put
// each kind of special byte at every offset of a long ASCII run.
func TestScannersFindSpecialsAtEveryOffset(t *testing.T) {
	specials := []string{"]", "]]>", "\x00", "\x1f", "\t", "\n", "\x7f", "é", "你", "\uFFFE", "\xff", "\U0001F600"}
	for _, sp := range specials {
		for off := 0; off < 26; off++ {
			for _, tail := range []string{"", "abcdefghij", "]]>", "xyz]]>tail"} {
				s := strings.Repeat("Ab+/=09", 4)[:off] + sp + tail
				if got, want := validChars(s), !strings.ContainsAny(sp, "\x00\x1f") && sp != "\uFFFE" && sp != "\xff"; got != want {
					t.Fatalf("validChars(%q) = %v, want %v", s, got, want)
				}
				wantEnd := strings.Index(s, "]]>")
				wantOK := wantEnd >= 0 && validChars(s[:wantEnd])
				if end, ok := scanCDATA(s); ok != wantOK || ok && end != wantEnd {
					t.Fatalf("scanCDATA(%q) = %d %v, want %d %v", s, end, ok, wantEnd, wantOK)
				}
				checkDifferential(t, []byte("<xml><a><![CDATA["+s+"]]></a><b>"+s+"</b></xml>"))
			}
		}
	}
}

// Flat pushes (every child a leaf) take scanFlat; anything else declines
// to scanNested with the same result as encoding/xml.
func TestScanFlat(t *testing.T) {
	flat := []string{v4Body,
		"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>",
		" \n<xml>\n\t<a></a>\n<b>1 2</b><c><![CDATA[]]></c></xml>\n"}
	for _, s := range flat {
		if _, ok := scanFlat(s, nil); !ok {
			t.Errorf("%q: not taken by scanFlat", s)
		}
		checkDifferential(t, []byte(s))
	}
	declined := []string{"<xml></xml>", "<xml a='1'><b>1</b></xml>", "<xml><a><b>1</b></a></xml>", "<xml><a/></xml>",
		"<xml><a>x &amp; y</a></xml>", "<xml><a><![CDATA[x]]>y</a></xml>", "<xml><a>1</a ></xml>", "<xml><a>1</b></xml>",
		"<xml><a>1</a></xml><b/>", "<xml><a>1</a>&bad;</xml>", "<?xml version='1.0'?><xml><a>1</a></xml>",
		"<xml><!-- c --><a>1</a></xml>", "<xml><a>1</a></xmlx>", "<xml><a>1</a>"}
	for _, s := range declined {
		if _, ok := scanFlat(s, nil); ok {
			t.Errorf("%q: taken by scanFlat", s)
		}
		checkDifferential(t, []byte(s))
		got, err := Parse(s, nil)
		ref, refErr := Reference([]byte(s))
		if (err == nil) != (refErr == nil) || err == nil && !reflect.DeepEqual(got, ref) {
			t.Errorf("%q: parseXML %v %v, encoding/xml %v %v", s, got, err, ref, refErr)
		}
	}
}
