// Ladder data: for every capture a story records, `<capture>.exchange.json`
// beside the pcap (the format is documented in harness/RESULTS.md). It lists
// each TCP segment with the lanes (roles) it went between, its seq/ack relative
// to its connection's ISNs (pcap_reader.h), the timestamp option, the time
// since the story started, and a mark when the lab itself acted on it: an
// impairment held, dropped or delayed it, or the story crafted it. Marks come
// from those records, never from the segment's flags.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netns/pcap_reader.h"

namespace tcprepro {

// Where a marked packet shows in the captures, given where the lab acted on
// it: a capture taps egress after netfilter and ingress before it.
enum class Captured {
  kNear,     // about when the lab acted: crafted, or held/delayed/dropped on ingress
  kLater,    // when the rule let it go: held or delayed on egress
  kNowhere,  // never on the wire: dropped on egress
};

// A packet the lab acted on: its headers as the rule or the raw socket saw
// them, `time` when it acted.
struct MarkedPacket {
  TcpSegment segment;
  std::string mark;             // "held", "dropped", "delayed", "crafted"
  std::string note;             // what acted: "dropped by the nfqueue rule on c0 egress (...)"
  std::string namespace_label;  // where it acted
  Captured captured = Captured::kNear;
};

// The lane ("client", "server") an address and port belong to.
using LaneOf = std::function<std::string(const std::string& ip, uint16_t port)>;

struct ExchangeInput {
  std::string capture;          // the pcap's file name
  std::string namespace_label;  // the captured namespace
  double story_started = 0;     // seconds since the epoch
  std::vector<std::string> lane_order;  // lanes in drawing order; lanes not seen are left out
  LaneOf lane_of;
};

// The document for `segments` (one capture, in order). Each marked packet
// marks the unmarked segment with its headers nearest to when the lab acted
// (kNear), or the first at or after it (kLater); a packet dropped before any
// capture (kNowhere) is added, at the time it was dropped, to the capture of
// the namespace that dropped it.
nlohmann::json ExchangeDocument(const ExchangeInput& input, const std::vector<TcpSegment>& segments,
                                const std::vector<MarkedPacket>& marks);

}  // namespace tcprepro
