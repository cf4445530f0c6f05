#include "netns/netlink.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
// After <net/if.h>, which it then completes (IFF_LOWER_UP) instead of redefining.
#include <linux/if.h>
#include <netlink/msg.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/socket.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

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
using Cache = std::unique_ptr<nl_cache, Releaser<nl_cache_free>>;
using Message = std::unique_ptr<nl_msg, Releaser<nlmsg_free>>;
using Callbacks = std::unique_ptr<nl_cb, Releaser<nl_cb_put>>;
using Socket = std::unique_ptr<nl_sock, Releaser<nl_socket_free>>;

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

int FamilyOf(const std::string& cidr) { return cidr.find(':') != std::string::npos ? AF_INET6 : AF_INET; }

// Reads the answer to one RTM_GETROUTE: the route's type (RTN_LOCAL, ...).
int StoreRouteType(nl_msg* msg, void* type) {
  const auto* route = static_cast<const rtmsg*>(nlmsg_data(nlmsg_hdr(msg)));
  *static_cast<int*>(type) = route->rtm_type;
  return NL_OK;
}

// A socket that receives the namespace's link, address and route
// notifications; only their arrival matters (something changed: look again).
Socket ChangeListener(const NetNamespace& ns) {
  Socket sock = Allocated(Socket(nl_socket_alloc()), "nl_socket_alloc");
  nl_socket_disable_seq_check(sock.get());
  NamespaceGuard inside(ns);
  if (nl_connect(sock.get(), NETLINK_ROUTE) < 0 ||
      nl_socket_add_memberships(sock.get(), RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, 0) < 0) {
    throw LabError("netlink: listen for changes in namespace " + ns.label());
  }
  return sock;
}

// Blocks until `sock` has a notification or `until` passes, then discards
// what is queued (an overrun, ENOBUFS, also just means "look again").
void AwaitChange(nl_sock* sock, std::chrono::steady_clock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  struct pollfd pfd = {nl_socket_get_fd(sock), POLLIN, 0};
  if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count()) + 1) <= 0) return;
  char discard[8192];
  while (::recv(pfd.fd, discard, sizeof discard, MSG_DONTWAIT) > 0 || errno == ENOBUFS) {
  }
}

}  // namespace

void RouteSocket::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

RouteSocket::RouteSocket(const NetNamespace& ns) : ns_(&ns), label_(ns.label()) {
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

void RouteSocket::DisableAutomaticAddresses(const std::string& name) {
  Link change = NamedLink(name);
  if (const int err = rtnl_link_inet6_set_addr_gen_mode(change.get(), IN6_ADDR_GEN_MODE_NONE); err < 0) {
    Fail("set IPv6 address generation of " + name, err);
  }
  if (const int err = rtnl_link_change(sock_.get(), change.get(), change.get(), 0); err < 0) {
    Fail("turn off automatic IPv6 addresses on " + name, err);
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
  const int family = FamilyOf(cidr);
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

void RouteSocket::AwaitUsable(const std::string& name, const std::vector<std::string>& cidrs,
                              std::chrono::milliseconds timeout) {
  // Listening starts before the first look, so no change between the two is missed.
  Socket changes = ChangeListener(*ns_);
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (std::string missing = Unready(name, cidrs); !missing.empty(); missing = Unready(name, cidrs)) {
    if (std::chrono::steady_clock::now() >= until) {
      throw LabError("netlink: " + name + " in namespace " + label_ + " not usable after " +
                     std::to_string(timeout.count()) + " ms: " + missing);
    }
    AwaitChange(changes.get(), until);
  }
}

std::string RouteSocket::Unready(const std::string& name, const std::vector<std::string>& cidrs) {
  rtnl_link* found = nullptr;
  if (const int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &found); err < 0) {
    Fail("look up " + name, err);
  }
  Link link(found);
  constexpr unsigned kOperational = unsigned{IFF_UP} | unsigned{IFF_LOWER_UP} | unsigned{IFF_RUNNING};
  if ((rtnl_link_get_flags(link.get()) & kOperational) != kOperational) return "link not operationally up";
  const int ifindex = rtnl_link_get_ifindex(link.get());

  nl_cache* dumped = nullptr;
  if (const int err = rtnl_addr_alloc_cache(sock_.get(), &dumped); err < 0) Fail("list addresses", err);
  Cache addresses(dumped);
  for (nl_object* o = nl_cache_get_first(addresses.get()); o; o = nl_cache_get_next(o)) {
    auto* address = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(address) == ifindex && (rtnl_addr_get_flags(address) & IFA_F_TENTATIVE)) {
      char text[INET6_ADDRSTRLEN + 8];
      return "address " + std::string(nl_addr2str(rtnl_addr_get_local(address), text, sizeof text)) + " tentative";
    }
  }
  for (const auto& cidr : cidrs) {
    nl_addr* parsed = nullptr;
    if (const int err = nl_addr_parse(cidr.c_str(), FamilyOf(cidr), &parsed); err < 0) Fail("parse " + cidr, err);
    ParsedAddress wanted(parsed);
    int flags = -1;
    for (nl_object* o = nl_cache_get_first(addresses.get()); o; o = nl_cache_get_next(o)) {
      auto* address = reinterpret_cast<rtnl_addr*>(o);
      if (rtnl_addr_get_ifindex(address) == ifindex && nl_addr_cmp(rtnl_addr_get_local(address), wanted.get()) == 0) {
        flags = static_cast<int>(rtnl_addr_get_flags(address));
      }
    }
    if (flags < 0) return "address " + cidr + " missing";
    if (flags & IFA_F_DADFAILED) throw LabError("netlink: address " + cidr + " on " + name + " in namespace " + label_ + " failed duplicate address detection");
    if (!RoutesLocally(cidr)) return "no local route to " + cidr;
  }
  return "";
}

bool RouteSocket::RoutesLocally(const std::string& cidr) {
  nl_addr* parsed = nullptr;
  if (const int err = nl_addr_parse(cidr.substr(0, cidr.find('/')).c_str(), FamilyOf(cidr), &parsed); err < 0) {
    Fail("parse " + cidr, err);
  }
  ParsedAddress destination(parsed);
  // What `ip route get` asks: the route the kernel would take to the address now.
  Message request = Allocated(Message(nlmsg_alloc_simple(RTM_GETROUTE, 0)), "nlmsg_alloc_simple");
  rtmsg header{};
  header.rtm_family = static_cast<unsigned char>(FamilyOf(cidr));
  header.rtm_dst_len = static_cast<unsigned char>(nl_addr_get_len(destination.get()) * 8);
  if (nlmsg_append(request.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
      nla_put_addr(request.get(), RTA_DST, destination.get()) < 0) {
    throw LabError("netlink: build route lookup for " + cidr);
  }
  if (const int err = nl_send_auto(sock_.get(), request.get()); err < 0) Fail("look up route to " + cidr, err);
  int type = RTN_UNSPEC;
  Callbacks socket_callbacks(nl_socket_get_cb(sock_.get()));
  Callbacks callbacks = Allocated(Callbacks(nl_cb_clone(socket_callbacks.get())), "nl_cb_clone");
  nl_cb_set(callbacks.get(), NL_CB_VALID, NL_CB_CUSTOM, StoreRouteType, &type);
  // An unreachable destination is an error answer (and no acknowledgement follows): not local.
  if (nl_recvmsgs(sock_.get(), callbacks.get()) < 0) return false;
  if (const int err = nl_wait_for_ack(sock_.get()); err < 0) Fail("look up route to " + cidr, err);
  return type == RTN_LOCAL;
}

void RouteSocket::Fail(const std::string& what, int err) const {
  throw LabError("netlink: " + what + " in namespace " + label_ + ": " + nl_geterror(err));
}

}  // namespace tcprepro
