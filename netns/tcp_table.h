// The TCP sockets of a namespace as /proc/net/tcp{,6} lists them, TIME_WAIT
// included (which no file descriptor can show): stories wait on "the client's
// 4-tuple is in TIME_WAIT" or "the server is in LAST_ACK", and count sockets
// left in a state, here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netns/namespace.h"
#include "netns/socket.h"

namespace tcprepro {

struct TcpTableEntry {
  uint16_t local_port = 0, remote_port = 0;
  std::string state;  // "TIME_WAIT", "LAST_ACK", ... (TcpStateName)
};

// Every TCP socket of `family` in `ns`.
std::vector<TcpTableEntry> ReadTcpTable(const NetNamespace& ns, Family family);

// The state of the socket on local_port <-> remote_port, if there is one.
std::optional<std::string> TcpTableState(const NetNamespace& ns, Family family, uint16_t local_port,
                                         uint16_t remote_port);

// How many sockets of `family` in `ns` are in `state`.
int CountInState(const NetNamespace& ns, Family family, const std::string& state);

}  // namespace tcprepro
