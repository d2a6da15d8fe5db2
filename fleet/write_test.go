package fleet

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestWriteStoresTheDocumentedLayout(t *testing.T) {
	r := startRedis(t, false)
	a := startAgent(t, r.URL(), Options{})
	waitSynced(t, a)
	ctx := context.Background()
	ban := put("203.0.113.7", time.Hour)
	ban.Record.Comment = `say "hi" \ <b>&` + "ünï\n\x01\u2028"
	forever := put("198.51.100.0/24", 0)
	forever.Record.Observe = true
	batch := []Change{ban, forever, del("192.0.2.1")}
	if err := a.f.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c := r.client(t)
	for _, ch := range batch[:2] {
		v, err := c.HGet(ctx, "spoaguard:entries", ch.Key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := json.Unmarshal([]byte(v), &got); err != nil || got != *ch.Record {
			t.Errorf("entry %s holds %s (%v), want %+v", ch.Key, v, err, *ch.Record)
		}
	}
	if s, err := c.ZScore(ctx, "spoaguard:expiry", ban.Key).Result(); err != nil || int64(s) != ban.Record.Expires {
		t.Errorf("the expiry of %s is %v (%v), want %d", ban.Key, int64(s), err, ban.Record.Expires)
	}
	if n, err := c.ZCard(ctx, "spoaguard:expiry").Result(); err != nil || n != 1 {
		t.Errorf("the expiry set holds %d entries (%v), want 1 (the bans that expire)", n, err)
	}
	log, err := c.XRange(ctx, "spoaguard:log", "-", "+").Result()
	if err != nil || len(log) != 1 {
		t.Fatalf("the log holds %d entries (%v), want 1", len(log), err)
	}
	var got []Change
	if err := json.Unmarshal([]byte(log[0].Values["changes"].(string)), &got); err != nil || !reflect.DeepEqual(got, batch) {
		t.Errorf("the log entry holds %s (%v), want %s", dump(got), err, dump(batch))
	}
}
