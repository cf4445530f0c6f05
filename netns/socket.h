// TCP sockets as the scenarios drive them, and what can be observed of them:
// addresses, state (TCP_INFO), errno as data.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>

#include "netns/unique_fd.h"

namespace tcprepro {

enum class Family { kIpv4, kIpv6 };
std::string FamilyName(Family family);  // "ipv4" / "ipv6"

struct Endpoint {
  std::string ip;  // numeric: "127.0.0.1", "::1"
  uint16_t port = 0;

  Family family() const;
  // "127.0.0.1:40000", "[::1]:40000"
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};

// `ep` as a sockaddr_in/sockaddr_in6 in `ss`; returns its length. Throws LabError on a bad address.
socklen_t ToSockaddr(const Endpoint& ep, sockaddr_storage& ss);

// "127.0.0.1" or "::1"; "0.0.0.0" or "::".
std::string LoopbackAddress(Family family);
std::string WildcardAddress(Family family);

// A blocking TCP socket of `family` in the calling thread's namespace.
UniqueFd TcpSocket(Family family);

// A listening socket on `at` in the calling thread's namespace (SO_REUSEADDR
// unless told otherwise); throws LabError naming the call that failed.
UniqueFd Listen(const Endpoint& at, bool reuseaddr = true, int backlog = 4096);
// The next connection on `listener`; throws LabError if accept fails.
// io_timeout_millis > 0 bounds its blocking calls (SetIoTimeout).
UniqueFd Accept(int listener, int io_timeout_millis = 0);
// A connected socket to `to` from the calling thread's namespace, after
// `before_connect` set its options; throws LabError if connect fails.
UniqueFd Connect(const Endpoint& to, int io_timeout_millis, const std::function<void(int)>& before_connect = {});
// One request and its answer ("ping" each way); false if either direction failed.
bool Echo(int client, int server);

// The errno of the call, 0 on success: outcomes the kernel chooses are data.
int BindErrno(int fd, const Endpoint& local);
int ConnectErrno(int fd, const Endpoint& remote);
int ListenErrno(int fd, int backlog = 16);

void SetIntOption(int fd, int level, int name, int value, const char* what);
// getsockopt of an int-sized option; throws LabError naming `what`.
int GetIntOption(int fd, int level, int name, const char* what);
// setsockopt as an outcome: 0, or the errno (ENOPROTOOPT where the kernel lacks the option).
int SetOptionErrno(int fd, int level, int name, int value);
void SetReuseAddr(int fd);
// close() then sends RST and skips TIME_WAIT (SO_LINGER with a zero timeout).
void SetAbortiveClose(int fd);
// Bounds how long a blocking send/recv/connect may take, so a story cannot hang.
void SetIoTimeout(int fd, int millis);

Endpoint LocalEndpoint(int fd);
Endpoint PeerEndpoint(int fd);  // {"", 0} when not connected

struct tcp_info TcpInfo(int fd);
// "ESTABLISHED", "SYN_SENT", "TIME_WAIT", ...
std::string TcpStateName(uint8_t state);
std::string TcpState(int fd);
// The socket's pending error (SO_ERROR), cleared by reading it: 0, ECONNRESET, ETIMEDOUT...
int SocketError(int fd);

}  // namespace tcprepro
