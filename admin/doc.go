// Package admin is the agent's admin API: HTTP and JSON on a listener of its own, through
// which live bans are added, removed and listed, and a decision is explained. It is also the
// API's client, which the spoaguard command line uses.
//
//	POST   /v1/bans          add or update entries: one object, or {"bans": [...]}; all or nothing
//	DELETE /v1/bans?addr=A   remove the entry for exactly A
//	GET    /v1/bans          every live entry, paged with limit and after
//	GET    /v1/check?ip=IP   the decision on IP as HAProxy would get it, and every match behind it
//
// On TCP every request needs "Authorization: Bearer <token>"; on a unix socket the socket
// file's mode and group are the access control.
package admin
