package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/store"
)

const (
	// The __Host- prefix makes browsers refuse the cookie unless it is
	// Secure, host-only and for "/", so a sibling host cannot plant one.
	cookieName      = "__Host-berth-session"
	sessionLifetime = 15 * time.Minute
	keySetting      = "web.session-key"
)

// session is what the cookie carries. User is empty before sign-in: the
// anonymous session exists so that the sign-in form has a CSRF token too.
// Mark is the user's mark (see userMark) when they signed in. Change is
// set when the user signed in with a password they must change first:
// until they do, the session is good for nothing else.
type session struct {
	ID      string `json:"s"`
	Tenant  string `json:"t,omitempty"`
	User    string `json:"u,omitempty"`
	Mark    string `json:"m,omitempty"`
	Change  bool   `json:"c,omitempty"`
	Expires int64  `json:"e"`
}

func (s session) signedIn() bool { return s.User != "" && !s.Change }

// loadKey reads the signing key from the settings, making one on first
// use. Replicas started at the same moment on a new store each try to
// make it; one wins, and all read its key back, so a session made by one
// replica is good at every other.
func loadKey(ctx context.Context, settings store.Settings) ([]byte, error) {
	v, err := settings.GetSetting(ctx, keySetting)
	if errors.Is(err, store.ErrNotFound) {
		err = settings.CreateSetting(ctx, keySetting, base64.RawStdEncoding.EncodeToString(randomBytes(32)))
		if err != nil && !errors.Is(err, store.ErrExists) {
			return nil, err
		}
		v, err = settings.GetSetting(ctx, keySetting)
	}
	if err != nil {
		return nil, err
	}
	key, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("setting %s is not a usable key", keySetting)
	}
	return key, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomString() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// mac labels what it signs so that a value signed for one use (a cookie)
// can never pass as another (a CSRF token).
func (h *Handler) mac(label, v string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(label + "\x00" + v))
	return m.Sum(nil)
}

func (h *Handler) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(h.mac("csrf", s.ID))
}

// userMark stands for a user's password hash and session epoch in their
// session: a session whose mark is not the user's now is from before a
// new password (every new password has a new hash, a new salt even for
// the same password) or before its sessions were revoked. It is keyed, so
// the cookie tells nothing about the hash.
func (h *Handler) userMark(u store.User) string {
	return base64.RawURLEncoding.EncodeToString(h.mac("user", fmt.Sprintf("%s\x00%s\x00%d", u.ObjectID, u.PasswordHash, u.SessionEpoch))[:16])
}

// Mark is a keyed digest of the state a form acts on, as the page that
// shows the form sees it. A form that must act once (a password reset, a
// new secret) carries it, and is refused when the state has moved on
// since: sent again, by a reload of its answer, it changes nothing. It
// tells nothing of what it stands for.
func (h *Handler) Mark(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString(h.mac("form", strings.Join(parts, "\x00"))[:16])
}

// SameMark reports whether a form's mark is the one of the state now.
func SameMark(given, now string) bool { return hmac.Equal([]byte(given), []byte(now)) }

func (h *Handler) checkCSRF(s session, given string) bool {
	got, err := base64.RawURLEncoding.DecodeString(given)
	return err == nil && s.ID != "" && hmac.Equal(got, h.mac("csrf", s.ID))
}

// readSession returns the request's valid session, if it has one.
func (h *Handler) readSession(r *http.Request, now time.Time) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, h.mac("session", payload)) {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var s session
	if err != nil || json.Unmarshal(raw, &s) != nil || s.ID == "" || now.Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// writeSession sets the cookie for a new session of user u of tenant
// (zero before sign-in) and returns it.
func (h *Handler) writeSession(w http.ResponseWriter, tenant string, u store.User, now time.Time) session {
	s := session{ID: randomString(), Tenant: tenant, User: u.ObjectID, Expires: now.Add(sessionLifetime).Unix()}
	if u.ObjectID != "" {
		s.Mark, s.Change = h.userMark(u), u.ForceChangePassword
	}
	h.setCookie(w, s)
	return s
}

func (h *Handler) setCookie(w http.ResponseWriter, s session) {
	raw, _ := json.Marshal(s)
	payload := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    payload + "." + base64.RawURLEncoding.EncodeToString(h.mac("session", payload)),
		Path:     "/",
		MaxAge:   int(sessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
}
