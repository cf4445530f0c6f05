#include "netns/netlink.h"

#include <linux/if_addr.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include "netns/error.h"

namespace tcprepro {
namespace {

// libnl objects are reference counted; each of these owns one reference.
template <auto Put>
struct Releaser {
  template <typename T>
  void operator()(T* object) const {
    Put(object);
  }
};
using Link = std::unique_ptr<rtnl_link, Releaser<rtnl_link_put>>;
using Address = std::unique_ptr<rtnl_addr, Releaser<rtnl_addr_put>>;
using ParsedAddress = std::unique_ptr<nl_addr, Releaser<nl_addr_put>>;

template <typename T>
T Allocated(T object, const char* what) {
  if (!object) throw LabError(std::string(what) + ": out of memory");
  return object;
}

// libnl truncates a long name silently; the lab would then make (or delete) another link.
void SetName(rtnl_link* link, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw LabError("interface name \"" + name + "\" must have 1 to " + std::to_string(IFNAMSIZ - 1) +
                   " characters");
  }
  rtnl_link_set_name(link, name.c_str());
}

// A link object naming `name`, for requests that address a link by name.
Link NamedLink(const std::string& name) {
  Link link = Allocated(Link(rtnl_link_alloc()), "rtnl_link_alloc");
  SetName(link.get(), name);
  return link;
}

}  // namespace

void RouteSocket::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

RouteSocket::RouteSocket(const NetNamespace& ns) : label_(ns.label()) {
  RequireNotHost(ns, "open a route netlink socket");
  sock_ = Allocated(std::unique_ptr<nl_sock, SockDeleter>(nl_socket_alloc()), "nl_socket_alloc");
  // A netlink socket belongs to the namespace of the thread that creates it.
  NamespaceGuard inside(ns);
  if (const int err = nl_connect(sock_.get(), NETLINK_ROUTE); err < 0) Fail("connect", err);
}

void RouteSocket::AddVeth(const std::string& name, const std::string& peer_name,
                          const NetNamespace& peer_ns) {
  RequireNotHost(peer_ns, "create veth peer " + peer_name);
  Link link = Allocated(Link(rtnl_link_veth_alloc()), "rtnl_link_veth_alloc");
  Link peer(rtnl_link_veth_get_peer(link.get()));
  SetName(link.get(), name);
  SetName(peer.get(), peer_name);
  // The fd is resolved in this process's fd table when the kernel reads the request.
  rtnl_link_set_ns_fd(peer.get(), peer_ns.fd());
  if (const int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    Fail("add veth " + name + " (peer " + peer_name + " in namespace " + peer_ns.label() + ")", err);
  }
}

void RouteSocket::SetUp(const std::string& name) {
  Link change = NamedLink(name);
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (const int err = rtnl_link_change(sock_.get(), change.get(), change.get(), 0); err < 0) {
    Fail("set " + name + " up", err);
  }
}

void RouteSocket::AddAddress(const std::string& name, const std::string& cidr) {
  // The family is given, not guessed: with AF_UNSPEC libnl takes "10.0.0.300"
  // for some other kind of address instead of failing.
  const int family = cidr.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  nl_addr* parsed = nullptr;
  if (const int err = nl_addr_parse(cidr.c_str(), family, &parsed); err < 0) {
    Fail("parse address " + cidr + " for " + name, err);
  }
  ParsedAddress local(parsed);

  rtnl_link* found = nullptr;
  if (const int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &found); err < 0) {
    Fail("look up " + name, err);
  }
  Link link(found);

  Address address = Allocated(Address(rtnl_addr_alloc()), "rtnl_addr_alloc");
  rtnl_addr_set_ifindex(address.get(), rtnl_link_get_ifindex(link.get()));
  if (const int err = rtnl_addr_set_local(address.get(), local.get()); err < 0) {
    Fail("use address " + cidr, err);
  }
  if (family == AF_INET6) rtnl_addr_set_flags(address.get(), IFA_F_NODAD);
  if (const int err = rtnl_addr_add(sock_.get(), address.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    Fail("add address " + cidr + " to " + name, err);
  }
}

void RouteSocket::DeleteLink(const std::string& name) {
  if (const int err = rtnl_link_delete(sock_.get(), NamedLink(name).get()); err < 0) {
    Fail("delete " + name, err);
  }
}

void RouteSocket::Fail(const std::string& what, int err) const {
  throw LabError("netlink: " + what + " in namespace " + label_ + ": " + nl_geterror(err));
}

}  // namespace tcprepro
