// iaposte's commands for stored content: template, contacts, signature, suppress.
#pragma once

namespace iaposte::cli {

// Each runs `iaposte <command> <subcommand> [options]` (argv[1] is the command) and returns the
// exit code: 0 done, 1 not found, nothing to do, bad file content, or PostgreSQL failed. A usage
// error throws std::invalid_argument (main prints it and exits 2); other failures throw
// std::runtime_error (exit 1).
int template_command(int argc, char** argv);
int contacts_command(int argc, char** argv);
int signature_command(int argc, char** argv);
int suppress_command(int argc, char** argv);

// Their part of `iaposte --help`.
extern const char* const content_usage;

} // namespace iaposte::cli
