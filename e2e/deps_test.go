package e2e

import (
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "oras.land/oras-go/v2/registry/remote"
)
