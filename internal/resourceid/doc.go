// Package resourceid parses and prints control-plane resource ids:
//
//	/subscriptions/{s}
//	/subscriptions/{s}/resourceGroups/{g}
//	/subscriptions/{s}/resourceGroups/{g}/providers/{namespace}/{type}/{name}[/{type}/{name}...]
//
// The fixed segments match in any case and print in their canonical case;
// names keep the case they were given. An id is also a scope of role
// assignments.
package resourceid
