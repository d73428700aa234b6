//go:build tools

// Package controlplane pins the upstream Kubernetes release whose kube-apiserver, kube-controller-manager and
// kubectl spinop's tests run. k8s.io/kubernetes is not consumable as a plain module dependency (its go.mod
// replaces every staging module with a local path), so go.mod replaces each staging module with its published
// version. operator/spinop/devcluster/build.py builds the binaries from here; nothing else lives in this folder.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
