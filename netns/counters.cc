#include "netns/counters.h"

#include <fstream>
#include <sstream>

#include "netns/error.h"

namespace tcprepro {
namespace {

// netstat and snmp come as pairs of lines: "TcpExt: name name ..." then
// "TcpExt: value value ...".
void ReadPairedTable(const std::string& path, std::map<std::string, int64_t>& out) {
  std::ifstream in(path);
  if (!in) throw LabError("cannot read " + path);
  std::string header, values;
  while (std::getline(in, header) && std::getline(in, values)) {
    std::istringstream names(header), numbers(values);
    std::string prefix, name, ignored;
    names >> prefix;
    numbers >> ignored;
    prefix.pop_back();  // the trailing ':'
    int64_t value = 0;
    while (names >> name && numbers >> value) out[prefix + name] = value;
  }
}

// snmp6 is one "name value" pair per line.
void ReadFlatTable(const std::string& path, std::map<std::string, int64_t>& out) {
  std::ifstream in(path);
  if (!in) return;  // a kernel without IPv6
  std::string name;
  int64_t value = 0;
  while (in >> name >> value) out[name] = value;
}

}  // namespace

CounterSnapshot CounterSnapshot::Take(const NetNamespace& ns) {
  NamespaceGuard inside(ns);
  CounterSnapshot snapshot;
  ReadPairedTable("/proc/thread-self/net/netstat", snapshot.values_);
  ReadPairedTable("/proc/thread-self/net/snmp", snapshot.values_);
  ReadFlatTable("/proc/thread-self/net/snmp6", snapshot.values_);
  return snapshot;
}

int64_t CounterSnapshot::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Unsupported("counter " + name + " does not exist on this kernel");
  return it->second;
}

std::map<std::string, int64_t> CounterDeltas(const CounterSnapshot& before, const CounterSnapshot& after,
                                             const std::vector<std::string>& names) {
  std::map<std::string, int64_t> deltas;
  for (const auto& name : names) {
    if (before.has(name) && after.has(name)) deltas[name] = after.get(name) - before.get(name);
  }
  return deltas;
}

}  // namespace tcprepro
