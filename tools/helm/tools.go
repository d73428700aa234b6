//go:build tools

// Package tools pins the helm command's module so `go build helm.sh/helm/v4/cmd/helm` builds the pinned version.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
