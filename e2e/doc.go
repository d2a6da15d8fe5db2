// Package e2e runs spoaguard behind real HAProxy processes, both SPOE generations:
// HAProxy 2.6 (Debian 12's package, the "applet" SPOE) and HAProxy 3.x (the SPOP
// multiplexer rewrite, run from a Debian forky root with chroot, sharing the host's
// loopback). Both are installed by scripts/haproxy-env.sh.
//
// Every test starts its own agent and HAProxy on free loopback ports, using the configs
// users copy from scripts/haproxy/ with only ports, paths and the health-check interval
// replaced, then sends HTTP requests from chosen loopback source addresses (all of
// 127.0.0.0/8 routes to lo on Linux) and asserts on status codes, on the list name HAProxy
// echoes in X-Spoaguard-List (the configs' debug response header, which the tests uncomment;
// TestActingOnTheList runs them as shipped and reads the verdict from HAProxy's log), and
// on the agent's Prometheus metrics.
//
// A missing HAProxy is a failure that says how to install it, never a skip.
package e2e
