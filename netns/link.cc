#include "netns/link.h"

#include <unistd.h>

#include "netns/command.h"
#include "netns/error.h"

namespace tcprepro {
namespace {

// A path to the namespace that `ip` (a child process) can open: our own fd
// table through /proc, since the fd itself is close-on-exec.
std::string NamespacePath(const NetNamespace& ns) {
  return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(ns.fd());
}

void ConfigureEnd(const VethEnd& end) {
  // Up before the addresses: IPv6 addresses added to a down link only take
  // effect when it comes up, and the first neighbour solicitation of the
  // story was then lost, costing a one-second retransmission.
  CheckedRunIn(*end.ns, {"ip", "link", "set", end.name, "up"});
  for (const auto& address : end.addresses) {
    std::vector<std::string> argv = {"ip", "address", "add", address, "dev", end.name};
    if (address.find(':') != std::string::npos) argv.push_back("nodad");
    CheckedRunIn(*end.ns, argv);
  }
}

}  // namespace

VethPair::VethPair(VethEnd a, VethEnd b) : a_(std::move(a)), b_(std::move(b)) {
  RequireNotHost(*a_.ns, "create veth " + a_.name);
  RequireNotHost(*b_.ns, "create veth " + b_.name);
  CheckedRunIn(*a_.ns, {"ip", "link", "add", a_.name, "type", "veth", "peer", "name", b_.name,
                        "netns", NamespacePath(*b_.ns)});
  try {
    ConfigureEnd(a_);
    ConfigureEnd(b_);
  } catch (...) {
    RunIn(*a_.ns, {"ip", "link", "del", a_.name});
    throw;
  }
}

VethPair::~VethPair() {
  // Best effort: if this fails the namespaces' end removes the pair anyway.
  try {
    RunIn(*a_.ns, {"ip", "link", "del", a_.name});
  } catch (const LabError&) {
  }
}

}  // namespace tcprepro
