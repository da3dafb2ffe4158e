// Command berth is the whole product in one binary: the server (berth
// serve) and its maintenance commands, the node agents (berth imds, berth
// credential-provider, and the docker credential helper when invoked as
// docker-credential-berth), and the client, whose commands and output
// follow the cloud CLI's.
//
// Every command is one entry of the command table (commands, in main.go,
// gathering each group's file): its words, a summary, its flags with their
// help, and a function returning what it prints. One runner (command.go)
// finds the command, parses its flags (flags.go), checks the required
// ones, loads the login and builds the client it uses, runs it under a
// context that SIGINT and SIGTERM end, and prints the result through the
// one output path (--output, --query). The help (help.go), the shell
// completion scripts (completion.go) and the reference in docs/cli.md
// (go generate ./cmd/berth) are derived from the table. Exit codes: 0
// done (or help asked for), 1 the command failed, 2 the command line names
// no command or does not fit the one it names.
package main
