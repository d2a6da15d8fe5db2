package health

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReportIsTheWorstCondition(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels []Level
		want   Level
		status int
	}{
		{"no checks", nil, Ready, 200},
		{"all ready", []Level{Ready, Ready}, Ready, 200},
		{"one degraded", []Level{Ready, Degraded}, Degraded, 200},
		{"one not ready", []Level{Degraded, NotReady, Ready}, NotReady, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Readiness
			for i, l := range tc.levels {
				r.Add(func() []Condition {
					return []Condition{{Name: "part" + string(rune('a'+i)), Level: l, Detail: "detail\nsecond line"}}
				})
			}
			if got := r.Report().Level; got != tc.want {
				t.Errorf("level %s, want %s", got, tc.want)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.HasPrefix(body, tc.want.String()+"\n") {
				t.Errorf("status %d body %q, want %d and %q first", rec.Code, body, tc.status, tc.want)
			}
			if n := strings.Count(body, "\n"); n != 1+len(tc.levels) {
				t.Errorf("%d lines, want one per condition and the level:\n%s", n, body)
			}
			for i, l := range tc.levels {
				if want := "part" + string(rune('a'+i)) + ": " + l.String() + ": detail second line\n"; !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
}
