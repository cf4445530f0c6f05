// Route netlink (rtnetlink) requests in one lab namespace, through libnl-route-3.
//
// Each request is one message to the kernel instead of an `ip` process: a
// spawn costs ~0.3 s in a QEMU TCG guest, a request well under a millisecond.
//
// A RouteSocket acts in the namespace it was opened in, whatever namespace the
// calling thread is in later: the constructor enters the namespace (per-thread
// setns), connects the socket, and leaves. The host's namespace is refused.
// Failures throw LabError naming the request, the namespace and libnl's text.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "netns/namespace.h"

struct nl_sock;

namespace tcprepro {

class RouteSocket {
 public:
  explicit RouteSocket(const NetNamespace& ns);

  // Creates veth `name` here, its peer `peer_name` born directly in `peer_ns`
  // (IFLA_NET_NS_FD), so the peer never exists in this namespace.
  void AddVeth(const std::string& name, const std::string& peer_name, const NetNamespace& peer_ns);
  // No automatic IPv6 addresses on `name` (IN6_ADDR_GEN_MODE_NONE): no
  // link-local address whose duplicate address detection would still be
  // running, and sending router solicitations, while a story runs. The lab's
  // own addresses are its only ones. Call before SetUp.
  void DisableAutomaticAddresses(const std::string& name);
  void SetUp(const std::string& name);
  // `cidr` as "10.200.0.1/24" or "fd00:200::1/64". IPv6 addresses get
  // IFA_F_NODAD: usable at once instead of racing duplicate address detection.
  void AddAddress(const std::string& name, const std::string& cidr);
  // Deletes a link; for a veth, both ends.
  void DeleteLink(const std::string& name);

  // Returns once link `name` is operationally up (IFF_UP, IFF_LOWER_UP,
  // IFF_RUNNING), no address on it is tentative, and each of `cidrs` is on it with the local
  // route a connect() to it takes. Even with IFA_F_NODAD an IPv6 address stays
  // tentative, without its local route, until the kernel's addrconf work item
  // runs; on a busy machine a story started before then sent its SYN out of
  // the link instead of to itself. Waits on rtnetlink notifications (a change
  // wakes it up to check again), not on a timer; throws LabError naming what is
  // still missing after `timeout`, which only a broken kernel or lab reaches.
  void AwaitUsable(const std::string& name, const std::vector<std::string>& cidrs,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  [[noreturn]] void Fail(const std::string& what, int err) const;
  // What still keeps `name` from being usable, or "" once it is.
  std::string Unready(const std::string& name, const std::vector<std::string>& cidrs);
  bool RoutesLocally(const std::string& cidr);

  const NetNamespace* ns_;
  std::unique_ptr<nl_sock, SockDeleter> sock_;
  std::string label_;
};

}  // namespace tcprepro
