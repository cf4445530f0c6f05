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

#include <memory>
#include <string>

#include "netns/namespace.h"

struct nl_sock;

namespace tcprepro {

class RouteSocket {
 public:
  explicit RouteSocket(const NetNamespace& ns);

  // Creates veth `name` here, its peer `peer_name` born directly in `peer_ns`
  // (IFLA_NET_NS_FD), so the peer never exists in this namespace.
  void AddVeth(const std::string& name, const std::string& peer_name, const NetNamespace& peer_ns);
  void SetUp(const std::string& name);
  // `cidr` as "10.200.0.1/24" or "fd00:200::1/64". IPv6 addresses get
  // IFA_F_NODAD: usable at once instead of racing duplicate address detection.
  void AddAddress(const std::string& name, const std::string& cidr);
  // Deletes a link; for a veth, both ends.
  void DeleteLink(const std::string& name);

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  [[noreturn]] void Fail(const std::string& what, int err) const;

  std::unique_ptr<nl_sock, SockDeleter> sock_;
  std::string label_;
};

}  // namespace tcprepro
