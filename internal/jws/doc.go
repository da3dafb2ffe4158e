// Package jws signs the compact RS256 JSON Web Tokens berth issues, with
// the keys of package keys, and reads every JWT berth is handed: Parse
// splits and decodes one, and VerifyRSA (RS256, PS256) or VerifyES256
// checks its signature by a key the caller chose; Verify does both for
// berth's own tokens. Which algorithms a surface accepts is its decision,
// made before a key is looked at. It checks signatures only: what a
// token's claims must say is each issuer's to check.
package jws
