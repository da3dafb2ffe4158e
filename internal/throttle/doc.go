// Package throttle slows down guessing. Failures counts wrong guesses per
// key (a client and where it calls from, a user name) and says how long
// the next attempt for that key must wait: nothing for the first few, then
// twice as long after each further failure, up to a cap. Nobody is locked
// out: the right secret works once the wait is over, and a success clears
// the key.
//
// Records are kept in memory, per process; several replicas each slow a
// guesser down on their own.
package throttle
