// Package gc reclaims blob content and upload sessions nothing needs.
//
// It is safe while pushes continue because it never decides alone: a blob
// is deleted only after the metadata store agreed, in one conditional
// update, that it was live, unreferenced and untouched for the grace
// window (see package store). Anything a push touched since loses that
// race and stays. A collector that stops half-way leaves records marked for
// deletion; the next run finishes them first.
package gc
