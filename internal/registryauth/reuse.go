package registryauth

import (
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// Signing a registry token costs an RSA-2048 signature, about a
// millisecond of CPU, and a rollout to thousands of nodes asks for
// thousands of identical tokens at once: the same kubelet identity
// pulling the same repositories. So a token is handed out again, rather
// than signed again, to a request that would get the same token but for
// its jti and times. The kept token is found by everything it says
// (reuseKey): the identity, and for a refresh token the credential it was
// minted from (its origin claim), the registry instance, the access
// claim exactly as this request would get it, and the key that signs
// now; and by the versions of every table group that decides a token
// (directory, role assignments, registries) as they were before this
// request read anything. A token is kept only during the first
// 1/reuseDivisor of its lifetime. What that means:
//
//   - A reused token expires no later than a fresh one would have: its exp
//     is the one it was issued with, before now plus the lifetime, and it
//     is never handed to a request whose token must end sooner (a renewed
//     refresh token keeps its chain's end). It has at least 7/8 of its
//     lifetime left, so a client that renews near exp gets a new one.
//   - Revocation is as without reuse. Every check that refuses a request
//     (an expired or removed secret, a deleted service principal, a
//     renewed admin password, a disabled admin user or anonymous pull, a
//     principal left with no role at the registry) runs before a kept
//     token is looked up, and any write to the directory, the role
//     assignments or the registries moves a version, so the next request
//     gets a fresh token with what is granted then. Tokens already handed
//     out live until their exp, reused or not, as before.
//   - A store that cannot vouch for its versions at the moment (see
//     store.Versions) gets every token freshly signed.
type issued struct {
	token string
	exp   time.Time
}

// reuseDivisor: a token is reused during the first 1/reuseDivisor of its
// lifetime, so whoever gets it has at least the rest: 65 of the access
// token's 75 minutes, 2 h 37 min of the refresh token's 3 h.
const reuseDivisor = 8

// decidingTables are the groups of tables whose content decides what a
// token says and whether it may be issued.
var decidingTables = [...]store.Tables{store.DirectoryTables, store.RoleAssignmentTables, store.RegistryTables}

// versions is the store's versions of the deciding tables, read before
// anything that decides a token is: a write in between makes what is
// issued then unreachable for reuse. ok is false when the store keeps no
// versions or cannot vouch for them now.
type versions struct {
	v  [len(decidingTables)]uint64
	ok bool
}

func (s *Service) versions() versions {
	vs, ok := s.Store.(store.Versions)
	if !ok {
		return versions{}
	}
	out := versions{ok: true}
	for i, t := range decidingTables {
		var current bool
		if out.v[i], current = vs.Version(t); !current {
			return versions{}
		}
	}
	return out
}

// reuseKey names what a token says but for its jti and times, and the
// state it was decided in. Names and ids hold no NUL (repository names
// are validated, the rest are GUIDs, host names and fixed words), so
// NUL-separated fields cannot run into each other.
func reuseKey(vs versions, keyID string, reg Registry, id Identity, grant string, access []Access) [32]byte {
	b := make([]byte, 0, 256)
	for _, v := range vs.v {
		b = strconv.AppendUint(b, v, 10)
		b = append(b, 0)
	}
	for _, f := range []string{keyID, reg.LoginServer, reg.TenantID, reg.Instance, grant, id.Kind, id.PrincipalID} {
		b = append(append(b, f...), 0)
	}
	if grant == grantRefresh {
		b = append(append(b, id.Origin...), 0)
	}
	for _, a := range access {
		b = append(append(append(append(b, a.Type...), 0), a.Name...), 0)
		for _, act := range a.Actions {
			b = append(append(b, act...), ',')
		}
		b = append(b, 0)
	}
	return sha256.Sum256(b)
}
