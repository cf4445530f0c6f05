// Reads TCP segments back from a capture file, and the packet-flow analysis
// every story shares: which segments belong to a connection, who sent them,
// their flags, and their sequence numbers relative to the connection's ISNs.
// Stories take ground truth from the wire (which SYNs were sent, which flags,
// which sequence numbers) instead of from what the sockets say about themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "netns/socket.h"

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

  // Filled by ReadTcpSegments: which connection on this 4-tuple the segment
  // belongs to (1, 2, ...: a SYN with a new ISN starts the next one), and seq
  // (ack) relative to the ISN of the sender's (receiver's) direction of it.
  // Unset while that ISN is not on the wire yet (an RST answering a SYN, a
  // segment from before the capture), and ack unset without the ACK flag.
  int incarnation = 0;
  std::optional<int64_t> relative_seq, relative_ack;

  bool fin() const { return flags & 0x01; }
  bool syn() const { return flags & 0x02; }
  bool rst() const { return flags & 0x04; }
  bool has_ack() const { return flags & 0x10; }
  // tcpdump's notation: "S", "S.", ".", "P.", "F.", "R", "R.".
  std::string flag_string() const;
  // The segment's 4-tuple and header numbers are those of `other`: the same packet.
  bool SameHeader(const TcpSegment& other) const;
};

// Every TCP segment in the file, in capture order, with incarnations and
// relative numbers. Throws LabError if the file cannot be read or has a link
// type the lab does not parse.
std::vector<TcpSegment> ReadTcpSegments(const std::filesystem::path& file);

// Fills incarnation, relative_seq and relative_ack of `segments` (in time order).
void NumberIncarnations(std::vector<TcpSegment>& segments);

// One IPv4 or IPv6 packet starting at its IP header (what NFQUEUE hands over),
// if it is TCP. `time` in seconds since the epoch.
std::optional<TcpSegment> ParseIpPacket(const uint8_t* packet, size_t length, double time);

// The segments between port_a and port_b, either direction, in order.
std::vector<TcpSegment> Flow(const std::vector<TcpSegment>& all, uint16_t port_a, uint16_t port_b);

// The segments `from` sent at or after `since` (seconds since the epoch).
std::vector<TcpSegment> SentBy(const std::vector<TcpSegment>& all, const Endpoint& from, double since = 0);

// Flags of each segment, in order: {"S", "S.", "."}.
std::vector<std::string> FlagStrings(const std::vector<TcpSegment>& segments);

// SYNs without ACK (connection attempts, retransmissions included).
int CountSyns(const std::vector<TcpSegment>& segments);

}  // namespace tcprepro
