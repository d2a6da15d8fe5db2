package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// The server binds its listeners and accepts on them itself, then hands each connection to
// an event loop (gnet's Engine.Register). gnet's own accept stops the whole engine on the
// first error it does not expect, EMFILE included, which closed the port for good; here a
// full file table pauses accepting with backoff and accepting resumes when descriptors are
// free again. Accepting here is also where -allow-peer is applied, before the connection
// costs an event loop anything, and where a Unix socket path is checked and created
// without ever removing anything but a stale socket.
//
// gnet runs only with at least one listener of its own, so it gets one on 127.0.0.1 with a
// port of the kernel's choosing, sealed as soon as the engine is up by a socket filter that
// drops every packet sent to it: no connection can reach it, so gnet's accept never runs
// (and needs no file or writable directory, which a container image may not have). A
// connection that slips in before the seal is closed by OnOpen: only connections the server
// handed over (enrolled) are served.

// listener is one bound address of Config.Listen.
type listener struct {
	ln   net.Listener
	addr string // as configured, for logs
	// For a Unix socket: its path and the identity of the file this server created, so that
	// only that file is removed when the server stops.
	path string
	ino  uint64
}

// bind binds every address of Config.Listen; on an error it closes what it bound.
func (s *Server) bind() error {
	for _, a := range s.cfg.Listen {
		l, err := s.bindOne(a)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.lns = append(s.lns, l)
		s.bound = append(s.bound, l.ln.Addr())
	}
	return nil
}

func (s *Server) bindOne(a string) (*listener, error) {
	if path, ok := unixPath(a); ok {
		return listenUnix(path, s.cfg.SocketMode, s.cfg.SocketGroup)
	}
	ap, _ := netip.ParseAddrPort(a) // validated by withDefaults
	network := "tcp6"
	if ap.Addr().Is4() {
		network = "tcp4"
	}
	// net.Listen sets SO_REUSEADDR: a restarted agent rebinds its port while the previous
	// process's connections sit in TIME_WAIT.
	ln, err := net.Listen(network, ap.String())
	if err != nil {
		return nil, err
	}
	return &listener{ln: ln, addr: a}, nil
}

// SocketGroupID returns the id of Config.SocketGroup's group, given by name or by id, as
// binding a unix socket looks it up.
func SocketGroupID(group string) (int, error) {
	g, err := user.LookupGroup(group)
	if errors.As(err, new(user.UnknownGroupError)) {
		if _, nerr := strconv.Atoi(group); nerr == nil { // an id
			g, err = user.LookupGroupId(group)
		}
	}
	switch {
	case errors.As(err, new(user.UnknownGroupError)), errors.As(err, new(user.UnknownGroupIdError)):
		return 0, fmt.Errorf("socket group %q: no such group", group)
	case err != nil:
		return 0, fmt.Errorf("socket group %q: %w", group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("socket group %q has id %q", group, g.Gid)
	}
	return gid, nil
}

// listenUnix creates a Unix socket at path. path must be absent, or be a socket no process
// answers on (left by a process that did not stop cleanly), which is then replaced. Anything
// else at path is refused, never removed: a directory or a file given by mistake, or the
// socket of a running instance.
func listenUnix(path string, mode os.FileMode, group string) (*listener, error) {
	gid := -1
	if group != "" {
		var err error
		if gid, err = SocketGroupID(group); err != nil {
			return nil, err
		}
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("socket %s: %w", path, err)
	case fi.Mode().Type() != os.ModeSocket:
		return nil, fmt.Errorf("socket %s: the path exists and is not a socket (%s); remove it or choose another path", path, fi.Mode().Type())
	default:
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another process is accepting on it", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("socket %s: cannot tell whether a process accepts on it: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("socket %s: removing the stale socket: %w", path, err)
		}
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ul.SetUnlinkOnClose(false) // removed by closeListeners, and only if it is still ours
	l := &listener{ln: ul, addr: "unix:" + path, path: path}
	fail := func(err error) (*listener, error) {
		l.close()
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fail(err)
	}
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			return fail(err)
		}
	}
	fi, err = os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		l.ino = st.Ino
	}
	return l, nil
}

// close closes the listener and removes its socket file if the file is still the one it
// created.
func (l *listener) close() {
	_ = l.ln.Close()
	if l.path == "" {
		return
	}
	fi, err := os.Lstat(l.path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == l.ino {
		_ = os.Remove(l.path)
	}
}

func (s *Server) closeListeners() {
	s.lnOnce.Do(func() {
		close(s.stopAccept)
		for _, l := range s.lns {
			l.close()
		}
	})
}

// gnetAddr is gnet's own listener (see the top of this file), as gnet names it after binding.
const (
	gnetAddr      = "tcp4://127.0.0.1:0"
	gnetNetwork   = "tcp"
	gnetBoundAddr = "127.0.0.1:0"
)

// sealGnetListener attaches to gnet's own listener a classic BPF program that returns 0 for
// every packet: the kernel drops each SYN sent to it before the listener sees it.
func sealGnetListener(eng gnet.Engine) error {
	fd, err := eng.DupListener(gnetNetwork, gnetBoundAddr)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]})
}

// enrolled marks, as their gnet context until OnOpen replaces it, the connections the server
// handed to the loops.
type enrolled struct{}

// Backoff of accepting while the file table is full, as net/http's: from 5 ms, doubling, at
// most 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptLoop accepts on l until the listeners are closed.
func (s *Server) acceptLoop(l *listener) {
	defer s.acceptors.Done()
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			select {
			case <-s.stopAccept:
				return
			default:
			}
			if isFDExhaustion(err) {
				delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
				s.pauseAccepting(l, err, delay)
				select {
				case <-s.stopAccept:
					return
				case <-time.After(delay):
				}
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.fail(fmt.Errorf("accepting on %s: %w", l.addr, err))
			return
		}
		if delay != 0 {
			delay = 0
			s.resumeAccepting(l)
		}
		if !s.peerAllowed(nc.RemoteAddr()) {
			s.metrics.peersRejected.Inc()
			s.errLog.warn("connection refused: peer not in -allow-peer", "peer", nc.RemoteAddr().String())
			_ = nc.Close()
			continue
		}
		// A fixed send buffer: the kernel's autotuning would let a peer that does not read
		// hold megabytes of kernel memory per connection, out of sight of WriteTimeout and
		// MaxBuffered, which see what queues behind it.
		if wb, ok := nc.(interface{ SetWriteBuffer(int) error }); ok {
			_ = wb.SetWriteBuffer(socketSendBuffer)
		}
		s.enroll(nc)
	}
}

// socketSendBuffer is the SO_SNDBUF of every connection (the kernel doubles it): room for
// thousands of ACKs, far more than HAProxy keeps in flight.
const socketSendBuffer = 64 << 10

// isFDExhaustion reports whether an accept failed for want of file descriptors or socket
// memory, which frees up as connections close.
func isFDExhaustion(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (s *Server) pauseAccepting(l *listener, err error, delay time.Duration) {
	s.metrics.acceptPauses.Inc()
	s.acceptLog.warn("accepting paused: out of file descriptors", "listen", l.addr, "error", err, "retry_in", delay)
	s.pausedMu.Lock()
	s.pausedLns[l] = true
	s.metrics.acceptPaused.Set(float64(len(s.pausedLns)))
	s.pausedMu.Unlock()
}

func (s *Server) resumeAccepting(l *listener) {
	s.pausedMu.Lock()
	delete(s.pausedLns, l)
	s.metrics.acceptPaused.Set(float64(len(s.pausedLns)))
	s.pausedMu.Unlock()
	s.log.Info("accepting resumed", "listen", l.addr)
}

// AcceptPaused reports whether some listener is pausing its accepts for want of file
// descriptors.
func (s *Server) AcceptPaused() bool {
	s.pausedMu.Lock()
	defer s.pausedMu.Unlock()
	return len(s.pausedLns) > 0
}

// peerAllowed applies Config.AllowPeers to a TCP peer; Unix socket peers are governed by the
// socket's permissions.
func (s *Server) peerAllowed(a net.Addr) bool {
	if len(s.cfg.AllowPeers) == 0 {
		return true
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return true
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.AllowPeers {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// enroll hands an accepted connection to an event loop. gnet duplicates the descriptor and
// closes nc once the loop has it.
func (s *Server) enroll(nc net.Conn) {
	res, err := s.eng.Register(gnet.NewContext(gnet.NewNetConnContext(context.Background(), nc), enrolled{}))
	if err != nil {
		_ = nc.Close()
		s.metrics.enrollFailures.Inc()
		s.errLog.warn("connection dropped: no event loop took it", "peer", nc.RemoteAddr().String(), "error", err)
		return
	}
	go func() {
		if r := <-res; r.Err != nil {
			s.metrics.enrollFailures.Inc()
			s.errLog.warn("connection dropped: no event loop took it", "error", r.Err)
		}
	}()
}
