// Package web serves the pages a person uses in a browser: signing in as a
// tenant's user and an administrator's consent to a multi-tenant
// application (docs/wire.md, "Sign-in and admin consent"). It answers the
// three consent URL forms,
//
//	GET /{t}/oauth2/authorize?client_id&response_type=code&redirect_uri[&prompt=admin_consent][&state]
//	GET /{t}/adminconsent?client_id&redirect_uri&state
//	GET /{t}/v2.0/adminconsent?client_id&scope&redirect_uri&state
//
// and /{t}/oauth2/v2.0/authorize like the first. {t} is a tenant id or
// domain, or "common"/"organizations" for the tenant of whoever signs in.
//
// Everything a request names (tenant, application, redirect URI, whether
// the application may be used outside its home tenant) is checked before a
// sign-in page is shown and again on every POST, and failures are pages:
// the browser is sent only to a redirect URI registered on the
// application. The query string travels in each form's action, so the
// server keeps no state per flow.
//
// Consent makes a service principal for the application in the tenant,
// through the directory service with the signed-in user's authority, the
// same grant `berth ad app permission admin-consent` (a POST to
// /v1.0/servicePrincipals) makes; only a Global or Application
// Administrator may give it. The browser then goes to the redirect URI
// with admin_consent=True&tenant=<id> (adminconsent forms) or code=<random>
// (authorize form). That code is opaque and redeemable nowhere: the token
// service supports no authorization code grant, and the consent is what
// the flow is for. Cancel, or Accept without the "on behalf of your
// organization" box, sends error=access_denied.
//
// Sessions are cookies (__Host-, HttpOnly, Secure, SameSite=Lax, 15
// minutes) holding a random session id, the tenant, the user and a keyed
// mark of the user's password hash and session epoch, signed with an HMAC
// key kept in the store's settings, so they survive restarts and work on
// every replica. Every request of a signed-in session reads the user from
// the store: a deleted or disabled user, or one whose password or session
// epoch changed since (a new password or disabling, through the directory
// API), is signed out at that request. Every form carries a CSRF token
// derived from the session id with the same key; a POST without the right
// one is refused and changes nothing. Signing in replaces the session id.
// A user who must change their password (forceChangePasswordNextSignIn)
// signs in to a page that asks for a new one (the password policy's length,
// typed twice, not the current one), and their session is good for nothing
// else until they have chosen it. Wrong passwords are throttled per user;
// a disabled account is told so only after the right password, and such
// attempts count towards the same throttle. Password hashing is bounded
// in concurrency, since each argon2id hash or check takes 64 MiB. Every
// refused sign-in is an audit event (package audit), and so is a new
// password chosen here; a consent is recorded by the directory service
// that makes it.
//
// The portal's pages (package portal) sign people in through the same
// pages, session and CSRF tokens: Require stands before each of them and
// answers the sign-in, the new password a user must choose, and a POST
// without the session's token (a multipart form, a file upload, like any
// other, within the same 64 KiB); a portal session is renewed while it is
// used. Users of any tenant sign in there, found by their name's domain.
// Mark gives a form that must act once a keyed mark of the state it acts
// on, so that the same form sent again finds it changed.
//
// Pages are html/template with embedded templates and an inline
// stylesheet allowed by its hash; they need no JavaScript and are sent with
// a strict Content-Security-Policy, X-Frame-Options DENY, Referrer-Policy
// no-referrer and Cache-Control no-store.
package web
