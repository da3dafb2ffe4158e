// Package jws signs and checks the compact RS256 JSON Web Tokens berth
// issues, with the keys of package keys. It checks signatures only: what
// a token's claims must say is each issuer's to check.
package jws
