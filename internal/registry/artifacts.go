package registry

import (
	"context"
	"errors"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

// The registry's metadata API: repositories, tags and manifests with their
// attributes, as the cloud's /acr/v1/ serves them.

// RepositoryInfo returns a repository with its counts and attributes.
func (s *Service) RepositoryInfo(ctx context.Context, repo store.Repo) (store.RepositoryInfo, error) {
	info, err := s.meta.GetRepositoryInfo(ctx, repo)
	return info, mapArtifacts(err)
}

// TagInfos lists a repository's tags.
func (s *Service) TagInfos(ctx context.Context, repo store.Repo, q store.ArtifactQuery) ([]store.TagInfo, error) {
	tags, err := s.meta.ListTagInfo(ctx, repo, q)
	return tags, mapArtifacts(err)
}

// TagInfo returns one tag.
func (s *Service) TagInfo(ctx context.Context, repo store.Repo, tag string) (store.TagInfo, error) {
	if err := oci.ValidateTag(tag); err != nil {
		return store.TagInfo{}, ErrTagInvalid
	}
	t, err := s.meta.GetTagInfo(ctx, repo, tag)
	return t, mapArtifacts(err)
}

// ManifestInfos lists a repository's manifests.
func (s *Service) ManifestInfos(ctx context.Context, repo store.Repo, q store.ArtifactQuery) ([]store.ManifestInfo, error) {
	ms, err := s.meta.ListManifestInfo(ctx, repo, q)
	return ms, mapArtifacts(err)
}

// ManifestInfo returns one manifest.
func (s *Service) ManifestInfo(ctx context.Context, repo store.Repo, d oci.Digest) (store.ManifestInfo, error) {
	m, err := s.meta.GetManifestInfo(ctx, repo, d)
	return m, mapArtifacts(err)
}

// ReferrerInfos lists the manifests whose subject is d: its signatures,
// SBOMs and other artifacts about it.
func (s *Service) ReferrerInfos(ctx context.Context, repo store.Repo, d oci.Digest) ([]store.Referrer, error) {
	refs, err := s.meta.Referrers(ctx, repo, d, "")
	return refs, mapArtifacts(err)
}

// UpdateRepository sets a repository's attributes and returns it.
func (s *Service) UpdateRepository(ctx context.Context, repo store.Repo, up store.AttributesUpdate) (store.RepositoryInfo, error) {
	if err := s.meta.UpdateRepositoryAttributes(ctx, repo, up); err != nil {
		return store.RepositoryInfo{}, mapArtifacts(err)
	}
	return s.RepositoryInfo(ctx, repo)
}

// UpdateTag sets a tag's attributes and returns it.
func (s *Service) UpdateTag(ctx context.Context, repo store.Repo, tag string, up store.AttributesUpdate) (store.TagInfo, error) {
	if err := oci.ValidateTag(tag); err != nil {
		return store.TagInfo{}, ErrTagInvalid
	}
	if err := s.meta.UpdateTagAttributes(ctx, repo, tag, up); err != nil {
		return store.TagInfo{}, mapArtifacts(err)
	}
	return s.TagInfo(ctx, repo, tag)
}

// UpdateManifest sets a manifest's attributes and returns it.
func (s *Service) UpdateManifest(ctx context.Context, repo store.Repo, d oci.Digest, up store.AttributesUpdate) (store.ManifestInfo, error) {
	if err := s.meta.UpdateManifestAttributes(ctx, repo, d, up); err != nil {
		return store.ManifestInfo{}, mapArtifacts(err)
	}
	return s.ManifestInfo(ctx, repo, d)
}

// DeleteRepository deletes a repository with everything in it. Blob
// content left unreferenced is garbage collection's to reclaim.
func (s *Service) DeleteRepository(ctx context.Context, repo store.Repo) (store.DeletedRepository, error) {
	gone, err := s.meta.DeleteRepository(ctx, repo)
	return gone, mapArtifacts(err)
}

// DeleteTag deletes one tag, leaving its manifest.
func (s *Service) DeleteTag(ctx context.Context, repo store.Repo, tag string) error {
	if err := oci.ValidateTag(tag); err != nil {
		return ErrTagInvalid
	}
	return mapArtifacts(s.meta.DeleteTag(ctx, repo, tag))
}

// mapArtifacts is mapStore with a missing repository as the registry
// names it.
func mapArtifacts(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNameUnknown
	}
	return mapStore(err)
}
