// Package miniotest runs a real MinIO server for a test: S3 on a free
// loopback port, with its data in a temporary directory, stopped and
// deleted when the test ends. Each test makes its own buckets.
//
// The binary is the one scripts/minio.sh builds, named by BERTH_MINIO, or
// minio on the PATH. When there is none the test is skipped, unless
// BERTH_REQUIRE_TOOLS=1 is set (as CI does), in which case it fails.
package miniotest
