// A veth pair whose two ends are born in their namespaces (never in the
// host's), up, with IPv4 and IPv6 addresses. IPv6 addresses are added with
// IFA_F_NODAD (no duplicate address detection), and the constructor returns
// only once both ends are usable: operationally up, every address out of
// tentative with its local route (RouteSocket::AwaitUsable). Deleting one end deletes both; the namespaces' end deletes them too.
// Made with rtnetlink requests (netns/netlink.h), no `ip` processes.
#pragma once

#include <string>
#include <vector>

#include "netns/namespace.h"

namespace tcprepro {

struct VethEnd {
  const NetNamespace* ns;
  std::string name;                    // interface name inside `ns`
  std::vector<std::string> addresses;  // CIDR, e.g. "10.200.0.1/24", "fd00:200::1/64"
};

class VethPair {
 public:
  VethPair(VethEnd a, VethEnd b);
  ~VethPair();
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  const VethEnd& a() const { return a_; }
  const VethEnd& b() const { return b_; }

 private:
  VethEnd a_, b_;
};

}  // namespace tcprepro
