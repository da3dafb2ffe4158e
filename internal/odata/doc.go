// Package odata parses the part of OData's $filter that the cloud's
// clients send to the management and directory APIs: a property compared
// with a string literal, a few functions, and clauses joined with "and".
//
// It only reads the syntax; which properties and functions a collection
// supports, and the error a client sees when it asks for another, are each
// surface's business.
package odata
