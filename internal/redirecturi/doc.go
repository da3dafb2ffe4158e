// Package redirecturi decides which redirect URIs an application may
// register and where the sign-in and consent pages may send a browser.
// It is the one place that parses them: the directory API checks what
// applications register, the pages check what a request names.
//
// A redirect URI is parsed, never compared by prefix (a prefix check lets
// "http://localhost.evil.example/" and "http://localhost@evil.example/"
// pass as loopback). As in the cloud:
//   - an application may register https URIs, and http URIs only on a
//     loopback host: localhost, an address of 127.0.0.0/8, or [::1];
//   - no URI has user information or a fragment, or is longer than 256
//     characters, or holds the characters the cloud refuses (! $ ' ( ) , ;),
//     a backslash, a space, a control character or anything outside ASCII; an application has at
//     most 256;
//   - a request's redirect_uri must equal a registered URI, byte for byte,
//     except that an http loopback URI matches on any port (a native client
//     listens on a port it picks when it starts). Scheme, host, path and
//     query must still be the same: localhost and 127.0.0.1 do not match
//     each other, and https loopback URIs match only with their port.
package redirecturi
