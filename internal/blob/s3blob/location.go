package s3blob

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Location is where a store keeps its objects: a bucket, a key prefix in
// it, and the service that holds the bucket.
type Location struct {
	Bucket string
	// Prefix is empty or ends in "/"; every key the store writes starts
	// with it.
	Prefix string
	// Endpoint is the service's base URL: scheme and host, nothing else.
	Endpoint *url.URL
	Region   string
}

// Defaults of a URL that names neither endpoint nor region: Amazon S3 in
// its first region, where a bucket of any region can be found.
const (
	DefaultEndpoint = "https://s3.amazonaws.com"
	DefaultRegion   = "us-east-1"
)

// maxPrefix leaves room within S3's 1,024-byte keys for the longest key
// the store makes under the prefix (a SHA-512 blob's, about 150 bytes).
const maxPrefix = 512

// ParseURL reads a blob store URL:
//
//	s3://BUCKET[/PREFIX][?endpoint=URL][&region=REGION]
//
// Credentials never appear in it; they come from the environment.
func ParseURL(raw string) (Location, error) {
	fail := func(format string, args ...any) (Location, error) {
		return Location{}, fmt.Errorf("blob store URL %q: %s", raw, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	if u.Scheme != "s3" {
		return fail("the scheme must be s3 (s3://BUCKET/PREFIX?endpoint=URL&region=REGION)")
	}
	if u.Opaque != "" {
		return fail("write s3://BUCKET, with two slashes")
	}
	if u.User != nil {
		return fail("credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fail("a fragment (#...) means nothing here")
	}
	if u.Port() != "" || strings.HasSuffix(u.Host, ":") {
		return fail("the host part is the bucket name and takes no port; name the service with ?endpoint=")
	}
	loc := Location{Bucket: u.Host, Region: DefaultRegion}
	if err := checkBucket(loc.Bucket); err != nil {
		return fail("%v", err)
	}
	if loc.Prefix, err = cleanPrefix(u.Path); err != nil {
		return fail("%v", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("query: %v", err)
	}
	endpoint := DefaultEndpoint
	for key, vals := range q {
		if len(vals) != 1 {
			return fail("%s is given %d times", key, len(vals))
		}
		switch key {
		case "endpoint":
			endpoint = vals[0]
		case "region":
			loc.Region = vals[0]
			if !validRegion(loc.Region) {
				return fail("region %q: lower-case letters, digits and hyphens only", loc.Region)
			}
		default:
			return fail("unknown parameter %q (known: endpoint, region)", key)
		}
	}
	if loc.Endpoint, err = parseEndpoint(endpoint); err != nil {
		return fail("endpoint: %v", err)
	}
	return loc, nil
}

// String is the URL that ParseURL reads back to l.
func (l Location) String() string {
	q := url.Values{"endpoint": {l.Endpoint.String()}, "region": {l.Region}}
	return (&url.URL{Scheme: "s3", Host: l.Bucket, Path: "/" + l.Prefix, RawQuery: q.Encode()}).String()
}

// checkBucket applies S3's rules for bucket names, which every
// S3-compatible service accepts.
func checkBucket(b string) error {
	if b == "" {
		return errors.New("no bucket: s3://BUCKET/PREFIX")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q: a bucket name has 3 to 63 characters", b)
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket %q: lower-case letters, digits, dots and hyphens only", b)
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return fmt.Errorf("bucket %q: must begin and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket %q: two dots in a row", b)
	}
	if net.ParseIP(b) != nil {
		return fmt.Errorf("bucket %q: a bucket name is not an IP address", b)
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// cleanPrefix turns the URL's path into a key prefix: no leading slash, a
// trailing one, and only characters that need no escaping in any S3
// client, so that a key means the same in every tool that lists it.
func cleanPrefix(path string) (string, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > maxPrefix {
		return "", fmt.Errorf("prefix is longer than %d bytes", maxPrefix)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return "", fmt.Errorf("prefix %q has an empty segment (//)", p)
		case ".", "..":
			return "", fmt.Errorf("prefix %q has a %q segment", p, seg)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.!*'()", c)) {
				return "", fmt.Errorf("prefix %q: letters, digits, slashes and -_.!*'() only", p)
			}
		}
	}
	return p + "/", nil
}

func validRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseEndpoint accepts an http or https URL of a host, with an optional
// port and nothing after it: S3 addresses buckets and keys itself.
func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: must be an http:// or https:// URL", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.Opaque != "" || strings.ContainsAny(raw, "?#") {
		return nil, fmt.Errorf("%q: scheme, host and port only", raw)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strings.TrimLeft(p, "0123456789") != "" {
			return nil, fmt.Errorf("%q: bad port", raw)
		}
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}
