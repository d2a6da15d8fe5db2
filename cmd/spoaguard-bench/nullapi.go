package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spoaguard/spoaguard/admin"
)

// nullAPI answers POST /v1/bans as the agent's admin API does, but applies nothing: it reads
// the body (up to admin.DefaultMaxBody, as the agent does) and reports every "addr" in it as
// added. Any other request gets 404. It is the floor of a ban storm's cost: what posting the
// bans costs the machine when the agent's own work on them is taken out.
func nullAPI() http.Handler {
	addr := []byte(`"addr"`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/bans" || r.Method != http.MethodPost {
			http.Error(w, `{"error": "the null API answers POST /v1/bans only"}`, http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, admin.DefaultMaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, `{"error": "body too large"}`, http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, `{"error": "reading the body failed"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"added": `+strconv.Itoa(bytes.Count(body, addr))+`, "updated": 0}`+"\n")
	})
}

func nullAPICmd(args []string) error {
	fs := newFlagSet("null-api", `Serves the do-nothing admin API: POST /v1/bans is read and answered as the agent
answers it, every "addr" in the body counted as added, and nothing is applied. Posting
a ban storm to it (spoaguard-bench bans) costs the machine what posting it to an agent
does, without the agent's own work on the bans. Listens on the API's listener, with its
limits. Runs until SIGINT or SIGTERM.`)
	listen := fs.String("listen", "", "listen `address`: IP:port or unix:/path (required)")
	fs.Parse(args)
	if *listen == "" {
		return errors.New("null-api: -listen is required")
	}
	ep, _, err := admin.Listen(*listen, nullAPI())
	if err != nil {
		return fmt.Errorf("null-api: %w", err)
	}
	fmt.Fprintf(os.Stderr, "null-api: listening on %s, pid %d\n", *listen, os.Getpid())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- ep.Serve() }()
	select {
	case <-ctx.Done():
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return ep.Shutdown(stop)
	case err := <-served:
		return fmt.Errorf("null-api: %w", err)
	}
}
