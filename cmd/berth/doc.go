// Command berth is the whole product: the server (berth serve), its
// maintenance commands (gc, fsck) and, in later versions, the CLI and the
// node agents. One binary, subcommands.
package main
