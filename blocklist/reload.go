package blocklist

import (
	"context"
	"errors"
	"os"
	"time"
)

// Reload re-reads now (SIGHUP) every source whose file changed identity (device, inode, size,
// mtime) since it was last read, and every source in error; unchanged files are not re-read.
// Sources that fail keep their previous contents; the failures are returned joined, and
// recorded in Status. URL sources are asked to download now, in the background: a slow feed
// cannot hold a reload.
//
// Calls made while a reload runs wait for one more reload, shared by all of them: a storm of
// signals costs at most the reload in progress and one after it. Reload returns ErrClosed at
// once when the Manager is closed, without waiting for the load in progress.
func (m *Manager) Reload() error {
	m.wakeRemotes()
	m.reqMu.Lock()
	r := m.next
	if r == nil {
		r = &reloadRun{done: make(chan struct{})}
		m.next = r
		go m.runReload(r)
	}
	r.callers++
	m.reqMu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-m.closed:
		return ErrClosed
	}
}

func (m *Manager) runReload(r *reloadRun) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.reqMu.Lock()
	m.next = nil // a call from now on may follow a change this run does not see: it needs another run
	m.reqMu.Unlock()
	r.err = m.reload()
	close(r.done)
}

func (m *Manager) reload() error {
	defer m.gc.restore()
	start := time.Now()
	var errs []error
	loaded := false
	for _, st := range m.srcs {
		if st.remote != nil {
			continue
		}
		if !st.inError {
			if fi, err := os.Stat(st.src.Path); err == nil && idOf(fi) == st.seen {
				continue
			}
		}
		if err := m.load(st, start); err != nil {
			errs = append(errs, err)
		} else {
			loaded = true
		}
	}
	if loaded {
		if err := m.publish(start); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run polls the file sources' identity (device, inode, size, mtime) every PollInterval and
// reloads the ones that changed, and downloads each URL source every Refresh, until ctx is
// done or the Manager is closed. A poll is skipped while a load runs, and Run returns without
// waiting for one (a download in progress is cancelled).
func (m *Manager) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.startRemotes(ctx)
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.closed:
			return
		case <-t.C:
			if m.loadMu.TryLock() {
				go func() {
					defer m.loadMu.Unlock()
					m.pollLocked()
				}()
			}
		}
	}
}

// pollLocked reloads the sources whose file identity changed since the last attempt. The
// caller holds loadMu.
func (m *Manager) pollLocked() {
	defer m.gc.restore()
	start := time.Now()
	loaded := false
	for _, st := range m.srcs {
		if st.remote != nil {
			continue
		}
		fi, err := os.Stat(st.src.Path)
		if err != nil {
			if st.seen != (fileID{}) { // report a vanished file once, keep serving its contents
				st.seen = fileID{}
				m.fail(st, &LoadError{Name: st.src.Name, Path: st.src.Path, Err: err}, start)
			}
			continue
		}
		if idOf(fi) == st.seen {
			continue
		}
		if m.load(st, start) == nil {
			loaded = true
		}
	}
	if loaded {
		if err := m.publish(start); err != nil {
			m.log.Error("blocklist: snapshot build failed; keeping the previous one", "err", err)
		}
	}
}
