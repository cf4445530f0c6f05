// Reads TCP segments back from a capture file, so that scenarios can take
// ground truth from the wire (which SYNs were sent, which flags, which
// sequence numbers) instead of from what the sockets report about themselves.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tcprepro {

struct TcpSegment {
  double time = 0;       // seconds since the epoch
  std::string src, dst;  // numeric addresses, as inet_ntop prints them
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;  // TH_FIN .. TH_CWR bits of the TCP header
  uint16_t window = 0;
  uint32_t payload = 0;  // bytes of TCP payload on the wire
  std::optional<uint32_t> ts_val, ts_ecr;

  bool syn() const { return flags & 0x02; }
  bool rst() const { return flags & 0x04; }
  bool has_ack() const { return flags & 0x10; }
  // tcpdump's notation: "S", "S.", ".", "P.", "F.", "R", "R.".
  std::string flag_string() const;
};

// Every TCP segment in the file, in capture order. Throws LabError if the file
// cannot be read or has a link type the lab does not parse.
std::vector<TcpSegment> ReadTcpSegments(const std::filesystem::path& file);

}  // namespace tcprepro
