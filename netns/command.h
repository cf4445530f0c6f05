// Runs a tool (ip, tc, iptables) inside a lab namespace.
//
// The child enters the namespace before exec, so the tool sees only that
// namespace; it gets SIGKILL if the lab process dies first. The host's own
// namespace is refused: every tool the lab runs changes something.
#pragma once

#include <string>
#include <vector>

#include "netns/namespace.h"

namespace tcprepro {

struct CommandResult {
  int exit_status = 0;  // exit code, or 128 + signal
  std::string output;   // stdout and stderr, interleaved
};

// Runs argv in `ns`; returns whatever the tool did.
CommandResult RunIn(const NetNamespace& ns, const std::vector<std::string>& argv);

// Runs argv in `ns`; throws LabError with the command line and its output unless it exits 0.
std::string CheckedRunIn(const NetNamespace& ns, const std::vector<std::string>& argv);

}  // namespace tcprepro
