package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/internal/redistest"
)

func TestHandler(t *testing.T) {
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()

	// Two queues with known contents: 3 pending in default, 1 scheduled in low.
	// A client on a shared connection has nothing to close.
	c := asynq.NewClientFromRedisClient(rc)
	for i := 0; i < 3; i++ {
		if _, err := c.Enqueue(asynq.NewTask("debug:sleep", []byte(`{"v":1}`)), asynq.Queue("default")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Enqueue(asynq.NewTask("debug:sleep", []byte(`{"v":1}`)), asynq.Queue("low"), asynq.ProcessIn(3600e9)); err != nil {
		t.Fatal(err)
	}

	for _, prefix := range []string{"/ui", "/ui/", ""} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			base := "/" + strings.Trim(prefix, "/")
			if base == "/" {
				base = ""
			}
			ts := httptest.NewServer(Handler(rc, prefix))
			defer ts.Close()
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			defer noRedirect.CloseIdleConnections()

			for _, tc := range []struct {
				name, path   string
				code         int
				ctype, wants string
			}{
				{"index page", base + "/", 200, "text/html", "<title>Asynq"},
				{"deep link serves the app", base + "/queues/default", 200, "text/html", "<title>Asynq"},
				// asynqmon sends its JSON without a content type; Go sniffs text/plain.
				{"redis info", base + "/api/redis_info", 200, "", `"redis_version"`},
				{"pending tasks", base + "/api/queues/default/pending_tasks", 200, "", `"type":"debug:sleep"`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, ctype, body := get(t, noRedirect, ts.URL+tc.path)
					if code != tc.code || !strings.HasPrefix(ctype, tc.ctype) || !strings.Contains(body, tc.wants) {
						t.Fatalf("GET %s: %d %q, want %d %q containing %q; body:\n%.500s", tc.path, code, ctype, tc.code, tc.ctype, tc.wants, body)
					}
				})
			}

			t.Run("scripts of the page load under the prefix", func(t *testing.T) {
				_, _, page := get(t, noRedirect, ts.URL+base+"/")
				srcs := regexp.MustCompile(`<script src="([^"]+)"`).FindAllStringSubmatch(page, -1)
				if len(srcs) == 0 {
					t.Fatalf("no scripts in the page:\n%.500s", page)
				}
				for _, m := range srcs {
					if !strings.HasPrefix(m[1], base+"/static/js/") {
						t.Errorf("script %s is not under %s/static/js/", m[1], base)
						continue
					}
					code, ctype, body := get(t, noRedirect, ts.URL+m[1])
					if code != 200 || !strings.Contains(ctype, "javascript") || len(body) < 1000 {
						t.Errorf("GET %s: %d %q, %d bytes", m[1], code, ctype, len(body))
					}
				}
			})

			t.Run("queues API", func(t *testing.T) {
				code, _, body := get(t, noRedirect, ts.URL+base+"/api/queues")
				if code != 200 {
					t.Fatalf("GET /api/queues: %d\n%s", code, body)
				}
				var resp struct {
					Queues []struct {
						Queue     string `json:"queue"`
						Pending   int    `json:"pending"`
						Scheduled int    `json:"scheduled"`
					} `json:"queues"`
				}
				if err := json.Unmarshal([]byte(body), &resp); err != nil {
					t.Fatalf("%v in %s", err, body)
				}
				got := map[string][2]int{}
				for _, q := range resp.Queues {
					got[q.Queue] = [2]int{q.Pending, q.Scheduled}
				}
				want := map[string][2]int{"default": {3, 0}, "low": {0, 1}}
				if len(got) != len(want) || got["default"] != want["default"] || got["low"] != want["low"] {
					t.Fatalf("queues (pending, scheduled) = %v, want %v", got, want)
				}
			})

			if base != "" {
				t.Run("prefix without slash redirects", func(t *testing.T) {
					resp, err := noRedirect.Get(ts.URL + base)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != base+"/" {
						t.Fatalf("GET %s: %d to %q", base, resp.StatusCode, resp.Header.Get("Location"))
					}
				})
			}
		})
	}

	// The handler must not close the caller's client.
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("client unusable after serving the UI: %v", err)
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}
