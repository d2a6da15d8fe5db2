package bench

import (
	"encoding/json"
	"testing"
)

// BanBody writes JSON that the API's decoder reads back as written, whatever the comment.
func TestBanBodyIsJSON(t *testing.T) {
	comment := "tab\there, \"quoted\", é, \x01"
	var got struct {
		Bans []struct{ Addr, TTL, Comment string }
	}
	if err := json.Unmarshal(BanBody(240<<24+255, 2, "1h", comment), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Bans) != 2 || got.Bans[0].Addr != "240.0.0.255" || got.Bans[1].Addr != "240.0.1.0" ||
		got.Bans[1].TTL != "1h" || got.Bans[1].Comment != comment {
		t.Fatalf("BanBody wrote %+v", got)
	}
}
