#include "netns/tcp_table.h"

#include <fstream>
#include <sstream>

#include "netns/error.h"

namespace tcprepro {

std::vector<TcpTableEntry> ReadTcpTable(const NetNamespace& ns, Family family) {
  NamespaceGuard inside(ns);
  const std::string path = family == Family::kIpv4 ? "/proc/thread-self/net/tcp" : "/proc/thread-self/net/tcp6";
  std::ifstream in(path);
  if (!in) throw LabError("cannot read " + path);
  std::vector<TcpTableEntry> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // "  0: 0100007F:9C40 0100007F:1F90 06 ..."
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    if (!(fields >> slot >> local >> remote >> state)) continue;
    TcpTableEntry entry;
    entry.local_port = static_cast<uint16_t>(std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
    entry.remote_port = static_cast<uint16_t>(std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16));
    entry.state = TcpStateName(static_cast<uint8_t>(std::stoul(state, nullptr, 16)));
    out.push_back(entry);
  }
  return out;
}

std::optional<std::string> TcpTableState(const NetNamespace& ns, Family family, uint16_t local_port,
                                         uint16_t remote_port) {
  for (const auto& entry : ReadTcpTable(ns, family)) {
    if (entry.local_port == local_port && entry.remote_port == remote_port) return entry.state;
  }
  return std::nullopt;
}

int CountInState(const NetNamespace& ns, Family family, const std::string& state) {
  int count = 0;
  for (const auto& entry : ReadTcpTable(ns, family)) count += entry.state == state;
  return count;
}

}  // namespace tcprepro
