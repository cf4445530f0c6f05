#include "netns/link.h"

#include "netns/error.h"
#include "netns/netlink.h"

namespace tcprepro {
namespace {

void ConfigureEnd(RouteSocket& sock, const VethEnd& end) {
  // Up before the addresses: IPv6 addresses added to a down link only take
  // effect when it comes up, and the first neighbour solicitation of the
  // story was then lost, costing a one-second retransmission.
  sock.DisableAutomaticAddresses(end.name);
  sock.SetUp(end.name);
  for (const auto& address : end.addresses) sock.AddAddress(end.name, address);
}

}  // namespace

VethPair::VethPair(VethEnd a, VethEnd b) : a_(std::move(a)), b_(std::move(b)) {
  RequireNotHost(*a_.ns, "create veth " + a_.name);
  RequireNotHost(*b_.ns, "create veth " + b_.name);
  RouteSocket in_a(*a_.ns);
  in_a.AddVeth(a_.name, b_.name, *b_.ns);
  try {
    ConfigureEnd(in_a, a_);
    RouteSocket in_b(*b_.ns);
    ConfigureEnd(in_b, b_);
    // Ready before the story starts: carrier, addresses out of tentative, local routes.
    in_a.AwaitUsable(a_.name, a_.addresses);
    in_b.AwaitUsable(b_.name, b_.addresses);
  } catch (...) {
    // Best effort, so the first error is the one reported.
    try {
      in_a.DeleteLink(a_.name);
    } catch (const LabError&) {
    }
    throw;
  }
}

VethPair::~VethPair() {
  // Best effort: if this fails the namespaces' end removes the pair anyway.
  try {
    RouteSocket(*a_.ns).DeleteLink(a_.name);
  } catch (const LabError&) {
  }
}

}  // namespace tcprepro
