//go:build tools

// Package etcd pins the etcd release the local control planes store their state in. It is built from the
// upstream go.etcd.io/etcd/server/v3 module (3.6: Debian only ships 3.4, which lacks RequestWatchProgress).
package etcd

import _ "go.etcd.io/etcd/server/v3"
