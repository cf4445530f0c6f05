#include "netns/exchange.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace tcprepro {
namespace {

nlohmann::json OrNull(const std::optional<int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
nlohmann::json OrNull(const std::optional<uint32_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

// How much earlier than the lab's note of an action the packet may be stamped.
constexpr double kClockSlack = 0.05;

struct Row {
  TcpSegment segment;
  const MarkedPacket* mark = nullptr;
  std::string note;
};

}  // namespace

nlohmann::json ExchangeDocument(const ExchangeInput& input, const std::vector<TcpSegment>& segments,
                                const std::vector<MarkedPacket>& marks) {
  std::vector<Row> rows;
  for (const auto& s : segments) rows.push_back({s, nullptr, ""});
  for (const auto& m : marks) {
    if (m.captured == Captured::kNowhere) {
      if (m.namespace_label != input.namespace_label) continue;
      Row row{m.segment, &m, m.note + "; dropped before this capture point, never on the wire"};
      const auto at = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.segment.time > m.segment.time; });
      rows.insert(at, row);
      continue;
    }
    Row* best = nullptr;
    for (auto& r : rows) {
      if (r.mark || !r.segment.SameHeader(m.segment)) continue;
      // The lab notes the time after the kernel took the packet: allow a little before it.
      if (m.captured == Captured::kLater && r.segment.time < m.segment.time - kClockSlack) continue;
      if (!best || std::abs(r.segment.time - m.segment.time) < std::abs(best->segment.time - m.segment.time)) best = &r;
      if (m.captured == Captured::kLater) break;
    }
    if (best) {
      best->mark = &m;
      best->note = m.note;
    }
  }

  // A packet only the rule saw takes its place among the connection's numbers.
  std::vector<TcpSegment> numbered;
  for (const auto& r : rows) numbered.push_back(r.segment);
  NumberIncarnations(numbered);
  for (size_t i = 0; i < rows.size(); ++i) rows[i].segment = numbered[i];

  std::map<std::string, std::vector<std::string>> endpoints;  // lane -> "ip:port", first seen first
  auto note_endpoint = [&](const std::string& lane, const std::string& ip, uint16_t port) {
    const std::string text = Endpoint{ip, port}.ToString();
    auto& list = endpoints[lane];
    if (std::find(list.begin(), list.end(), text) == list.end()) list.push_back(text);
  };
  nlohmann::json out_segments = nlohmann::json::array();
  for (const auto& r : rows) {
    const TcpSegment& s = r.segment;
    const std::string from = input.lane_of(s.src, s.sport), to = input.lane_of(s.dst, s.dport);
    note_endpoint(from, s.src, s.sport);
    note_endpoint(to, s.dst, s.dport);
    out_segments.push_back({{"t", s.time - input.story_started},
                            {"from", from},
                            {"to", to},
                            {"src", s.src},
                            {"sport", s.sport},
                            {"dst", s.dst},
                            {"dport", s.dport},
                            {"flags", s.flag_string()},
                            {"seq", OrNull(s.relative_seq)},
                            {"ack", OrNull(s.relative_ack)},
                            {"seq_abs", s.seq},
                            {"ack_abs", s.ack},
                            {"len", s.payload},
                            {"win", s.window},
                            {"tsval", OrNull(s.ts_val)},
                            {"tsecr", OrNull(s.ts_ecr)},
                            {"mark", r.mark ? nlohmann::json(r.mark->mark) : nlohmann::json(nullptr)},
                            {"note", r.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.note)}});
  }
  nlohmann::json lanes = nlohmann::json::array();
  for (const auto& name : input.lane_order) {
    if (endpoints.count(name)) lanes.push_back({{"name", name}, {"endpoints", endpoints[name]}});
  }
  for (const auto& [name, list] : endpoints) {
    if (std::find(input.lane_order.begin(), input.lane_order.end(), name) == input.lane_order.end()) {
      lanes.push_back({{"name", name}, {"endpoints", list}});
    }
  }
  return {{"schema", "tcprepro-exchange/1"},
          {"capture", input.capture},
          {"namespace", input.namespace_label},
          {"story_started", input.story_started},
          {"lanes", lanes},
          {"segments", out_segments}};
}

}  // namespace tcprepro
