// The TCP/IP counters of one namespace, named as nstat names them
// ("TcpExtTCPChallengeACK", "TcpActiveOpens", "Ip6InReceives"), read from
// /proc/thread-self/net/{netstat,snmp,snmp6} inside it. A scenario takes a
// snapshot before and after its story and records the deltas: they tell which
// kernel path ran (a challenge ACK, a PAWS reject) where the pcap alone cannot.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "netns/namespace.h"

namespace tcprepro {

class CounterSnapshot {
 public:
  static CounterSnapshot Take(const NetNamespace& ns);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // Throws Unsupported if this kernel has no counter of that name.
  int64_t get(const std::string& name) const;
  const std::map<std::string, int64_t>& values() const { return values_; }

 private:
  std::map<std::string, int64_t> values_;
};

// after - before for each name both snapshots have: a counter newer than the
// kernel is left out (the judge then sees it missing) rather than ending the story.
std::map<std::string, int64_t> CounterDeltas(const CounterSnapshot& before, const CounterSnapshot& after,
                                             const std::vector<std::string>& names);

}  // namespace tcprepro
