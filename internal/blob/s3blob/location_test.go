package s3blob

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in                               string
		bucket, prefix, endpoint, region string
	}{
		{"s3://my-bucket", "my-bucket", "", DefaultEndpoint, DefaultRegion},
		{"s3://my-bucket/", "my-bucket", "", DefaultEndpoint, DefaultRegion},
		{"s3://my-bucket/berth/prod/", "my-bucket", "berth/prod/", DefaultEndpoint, DefaultRegion},
		{"s3://b.example.com/p?region=eu-west-1", "b.example.com", "p/", DefaultEndpoint, "eu-west-1"},
		{"s3://blobs/reg?endpoint=http://127.0.0.1:9000&region=us-east-1", "blobs", "reg/", "http://127.0.0.1:9000", "us-east-1"},
		{"s3://blobs?endpoint=https%3A%2F%2Fminio.internal%2F", "blobs", "", "https://minio.internal", DefaultRegion},
		{"s3://blobs?endpoint=http://[::1]:9000", "blobs", "", "http://[::1]:9000", DefaultRegion},
	} {
		loc, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if loc.Bucket != tc.bucket || loc.Prefix != tc.prefix || loc.Endpoint.String() != tc.endpoint || loc.Region != tc.region {
			t.Errorf("ParseURL(%q) = %+v (endpoint %s)", tc.in, loc, loc.Endpoint)
		}
		again, err := ParseURL(loc.String())
		if err != nil || again.String() != loc.String() {
			t.Errorf("ParseURL(%q).String() = %q reads back as %v, %v", tc.in, loc.String(), again, err)
		}
	}
}

func TestParseURLRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "scheme must be s3",
		"/var/lib/berth":         "scheme must be s3",
		"gs://bucket":            "scheme must be s3",
		"s3:bucket":              "two slashes",
		"s3://":                  "no bucket",
		"s3:///prefix":           "no bucket",
		"s3://ab":                "3 to 63",
		"s3://Bucket":            "lower-case",
		"s3://bucket_name":       "lower-case",
		"s3://-bucket":           "begin and end",
		"s3://a..b":              "two dots",
		"s3://192.168.1.1":       "IP address",
		"s3://bucket:9000":       "takes no port",
		"s3://key:secret@bucket": "credentials do not belong",
		"s3://bucket#frag":       "fragment",
		"s3://bucket/a//b":       "empty segment",
		"s3://bucket/a/../b":     `".." segment`,
		"s3://bucket/a b":        "letters, digits",
		"s3://bucket/" + strings.Repeat("p", 600): "longer than",
		"s3://bucket?region=EU":                   "lower-case letters",
		"s3://bucket?region=":                     "lower-case letters",
		"s3://bucket?region=a&region=b":           "given 2 times",
		"s3://bucket?secret=x":                    `unknown parameter "secret"`,
		"s3://bucket?endpoint=minio:9000":         "http:// or https://",
		"s3://bucket?endpoint=ftp://h":            "http:// or https://",
		"s3://bucket?endpoint=http://":            "no host",
		"s3://bucket?endpoint=http://h/path":      "scheme, host and port only",
		"s3://bucket?endpoint=http://h:99999":     "bad port",
		"s3://bucket?endpoint=http://u:p@h":       "credentials do not belong",
		"s3://bucket?endpoint=http%3A%2F%2Fh%3Fx": "scheme, host and port only",
		"s3://bucket?x=%zz":                       "query",
	} {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want it to say %q", in, err, want)
		}
	}
}

// FuzzParseURL: what ParseURL accepts is a well-formed location, which
// reads back the same from its String.
func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1",
		"s3://b.example/a/b/c/",
		"s3://bucket?endpoint=https://[::1]:443",
		"s3://bucket/..",
		"s3://key@bucket",
		"s3://bucket?endpoint=http://h:0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		loc, err := ParseURL(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "blob store URL ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if checkBucket(loc.Bucket) != nil || !validRegion(loc.Region) {
			t.Fatalf("accepted %q as %+v", in, loc)
		}
		if loc.Prefix != "" && (!strings.HasSuffix(loc.Prefix, "/") || strings.HasPrefix(loc.Prefix, "/") || strings.Contains(loc.Prefix, "//") || len(loc.Prefix) > maxPrefix+1) {
			t.Fatalf("accepted %q with prefix %q", in, loc.Prefix)
		}
		if loc.Endpoint.Path != "" || loc.Endpoint.RawQuery != "" || loc.Endpoint.User != nil || loc.Endpoint.Host == "" {
			t.Fatalf("accepted %q with endpoint %s", in, loc.Endpoint)
		}
		again, err := ParseURL(loc.String())
		if err != nil || again.String() != loc.String() {
			t.Fatalf("%q: its String %q reads back as %v, %v", in, loc.String(), again, err)
		}
	})
}
