#include "netns/socket.h"

#include <arpa/inet.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "netns/error.h"

namespace tcprepro {
namespace {

Endpoint FromSockaddr(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    return {text, ntohs(sin->sin_port)};
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    return {text, ntohs(sin6->sin6_port)};
  }
  return {};
}

int ErrnoOf(int rc) { return rc == 0 ? 0 : errno; }

}  // namespace

socklen_t ToSockaddr(const Endpoint& ep, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (ep.family() == Family::kIpv4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    if (inet_pton(AF_INET, ep.ip.c_str(), &sin->sin_addr) != 1) throw LabError("bad IPv4 address " + ep.ip);
    return sizeof *sin;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(ep.port);
  if (inet_pton(AF_INET6, ep.ip.c_str(), &sin6->sin6_addr) != 1) throw LabError("bad IPv6 address " + ep.ip);
  return sizeof *sin6;
}

std::string FamilyName(Family family) { return family == Family::kIpv4 ? "ipv4" : "ipv6"; }

Family Endpoint::family() const { return ip.find(':') == std::string::npos ? Family::kIpv4 : Family::kIpv6; }

std::string Endpoint::ToString() const {
  const std::string host = family() == Family::kIpv6 ? "[" + ip + "]" : ip;
  return host + ":" + std::to_string(port);
}

std::string LoopbackAddress(Family family) { return family == Family::kIpv4 ? "127.0.0.1" : "::1"; }
std::string WildcardAddress(Family family) { return family == Family::kIpv4 ? "0.0.0.0" : "::"; }

UniqueFd TcpSocket(Family family) {
  UniqueFd fd(::socket(family == Family::kIpv4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) ThrowErrno("socket(" + FamilyName(family) + ", SOCK_STREAM)");
  return fd;
}

int BindErrno(int fd, const Endpoint& local) {
  sockaddr_storage ss;
  const socklen_t len = ToSockaddr(local, ss);
  return ErrnoOf(::bind(fd, reinterpret_cast<sockaddr*>(&ss), len));
}

int ConnectErrno(int fd, const Endpoint& remote) {
  sockaddr_storage ss;
  const socklen_t len = ToSockaddr(remote, ss);
  return ErrnoOf(::connect(fd, reinterpret_cast<sockaddr*>(&ss), len));
}

int ListenErrno(int fd, int backlog) { return ErrnoOf(::listen(fd, backlog)); }

UniqueFd Listen(const Endpoint& at, bool reuseaddr, int backlog) {
  UniqueFd fd = TcpSocket(at.family());
  if (reuseaddr) SetReuseAddr(fd.get());
  if (int err = BindErrno(fd.get(), at)) throw LabError("bind listener " + at.ToString() + ": " + ErrnoName(err));
  if (int err = ListenErrno(fd.get(), backlog)) throw LabError("listen " + at.ToString() + ": " + ErrnoName(err));
  return fd;
}

UniqueFd Accept(int listener, int io_timeout_millis) {
  UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd.valid()) ThrowErrno("accept");
  if (io_timeout_millis > 0) SetIoTimeout(fd.get(), io_timeout_millis);
  return fd;
}

UniqueFd Connect(const Endpoint& to, int io_timeout_millis, const std::function<void(int)>& before_connect) {
  UniqueFd fd = TcpSocket(to.family());
  SetIoTimeout(fd.get(), io_timeout_millis);
  if (before_connect) before_connect(fd.get());
  if (int err = ConnectErrno(fd.get(), to)) throw LabError("connect " + to.ToString() + ": " + ErrnoName(err));
  return fd;
}

bool Echo(int client, int server) {
  const std::string ping = "ping";
  char buf[16];
  if (::send(client, ping.data(), ping.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ping.size())) return false;
  if (::recv(server, buf, ping.size(), MSG_WAITALL) != static_cast<ssize_t>(ping.size())) return false;
  if (::send(server, ping.data(), ping.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ping.size())) return false;
  return ::recv(client, buf, ping.size(), MSG_WAITALL) == static_cast<ssize_t>(ping.size());
}

void SetIntOption(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) ThrowErrno(std::string("setsockopt ") + what);
}

int SetOptionErrno(int fd, int level, int name, int value) {
  return ErrnoOf(::setsockopt(fd, level, name, &value, sizeof value));
}

void SetReuseAddr(int fd) { SetIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"); }

void SetAbortiveClose(int fd) {
  const struct linger linger = {1, 0};
  if (::setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger) != 0) ThrowErrno("setsockopt SO_LINGER");
}

void SetIoTimeout(int fd, int millis) {
  const struct timeval tv = {millis / 1000, (millis % 1000) * 1000};
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) ThrowErrno("setsockopt SO_SNDTIMEO");
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) ThrowErrno("setsockopt SO_RCVTIMEO");
}

Endpoint LocalEndpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) ThrowErrno("getsockname");
  return FromSockaddr(ss);
}

Endpoint PeerEndpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return FromSockaddr(ss);
}

struct tcp_info TcpInfo(int fd) {
  struct tcp_info info {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) ThrowErrno("getsockopt TCP_INFO");
  return info;
}

std::string TcpStateName(uint8_t state) {
  // Values of the kernel's enum in include/net/tcp_states.h.
  static const char* const kNames[] = {"UNKNOWN",  "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1",
                                       "FIN_WAIT2", "TIME_WAIT",  "CLOSE",      "CLOSE_WAIT", "LAST_ACK",
                                       "LISTEN",   "CLOSING",     "NEW_SYN_RECV"};
  return state < std::size(kNames) ? kNames[state] : "STATE_" + std::to_string(state);
}

std::string TcpState(int fd) { return TcpStateName(TcpInfo(fd).tcpi_state); }

int GetIntOption(int fd, int level, int name, const char* what) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, level, name, &value, &len) != 0) ThrowErrno(std::string("getsockopt ") + what);
  return value;
}

int SocketError(int fd) { return GetIntOption(fd, SOL_SOCKET, SO_ERROR, "SO_ERROR"); }

}  // namespace tcprepro
