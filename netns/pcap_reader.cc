#include "netns/pcap_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "netns/error.h"

namespace tcprepro {
namespace {

constexpr int kLinkTypeSll = 113;   // DLT_LINUX_SLL: the "any" device
constexpr int kLinkTypeSll2 = 276;  // DLT_LINUX_SLL2
constexpr int kEtherTypeIpv4 = 0x0800;
constexpr int kEtherTypeIpv6 = 0x86dd;

uint16_t Be16(const u_char* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const u_char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string Ntop(int family, const u_char* addr) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(family, addr, text, sizeof text);
  return text;
}

// Finds the network-layer protocol and where its header starts.
bool LinkPayload(int linktype, const u_char* p, uint32_t caplen, int& ethertype, uint32_t& offset) {
  switch (linktype) {
    case kLinkTypeSll:
      if (caplen < 16) return false;
      ethertype = Be16(p + 14), offset = 16;
      return true;
    case kLinkTypeSll2:
      if (caplen < 20) return false;
      ethertype = Be16(p), offset = 20;
      return true;
    case DLT_EN10MB:
      if (caplen < 14) return false;
      ethertype = Be16(p + 12), offset = 14;
      return true;
    case DLT_RAW:
      if (caplen < 1) return false;
      ethertype = (p[0] >> 4) == 6 ? kEtherTypeIpv6 : kEtherTypeIpv4, offset = 0;
      return true;
  }
  return false;
}

void ParseTimestampOption(const u_char* options, uint32_t length, TcpSegment& seg) {
  for (uint32_t i = 0; i < length;) {
    const u_char kind = options[i];
    if (kind == 0) return;  // end of options
    if (kind == 1) {        // no-op
      ++i;
      continue;
    }
    if (i + 1 >= length || options[i + 1] < 2 || i + options[i + 1] > length) return;
    if (kind == 8 && options[i + 1] == 10) {
      seg.ts_val = Be32(options + i + 2);
      seg.ts_ecr = Be32(options + i + 6);
    }
    i += options[i + 1];
  }
}

std::optional<TcpSegment> ParseIp(int ethertype, const u_char* p, uint32_t caplen, double time) {
  TcpSegment seg;
  seg.time = time;
  uint32_t off = 0, ip_payload_len = 0;
  if (ethertype == kEtherTypeIpv4) {
    if (caplen < 20 || p[9] != IPPROTO_TCP) return std::nullopt;
    const uint32_t ihl = (p[0] & 0x0f) * 4u;
    ip_payload_len = Be16(p + 2) - ihl;
    seg.src = Ntop(AF_INET, p + 12);
    seg.dst = Ntop(AF_INET, p + 16);
    off = ihl;
  } else if (ethertype == kEtherTypeIpv6) {
    // The lab's stories send no extension headers.
    if (caplen < 40 || p[6] != IPPROTO_TCP) return std::nullopt;
    ip_payload_len = Be16(p + 4);
    seg.src = Ntop(AF_INET6, p + 8);
    seg.dst = Ntop(AF_INET6, p + 24);
    off = 40;
  } else {
    return std::nullopt;
  }
  if (caplen < off + 20) return std::nullopt;
  const u_char* tcp = p + off;
  seg.sport = Be16(tcp);
  seg.dport = Be16(tcp + 2);
  seg.seq = Be32(tcp + 4);
  seg.ack = Be32(tcp + 8);
  const uint32_t data_offset = (tcp[12] >> 4) * 4u;
  seg.flags = tcp[13];
  seg.window = Be16(tcp + 14);
  seg.payload = ip_payload_len > data_offset ? ip_payload_len - data_offset : 0;
  const uint32_t options_captured = std::min(data_offset, caplen - off);
  if (options_captured > 20) ParseTimestampOption(tcp + 20, options_captured - 20, seg);
  return seg;
}

std::optional<TcpSegment> ParseTcp(int linktype, const struct pcap_pkthdr& header, const u_char* p) {
  int ethertype = 0;
  uint32_t off = 0;
  if (!LinkPayload(linktype, p, header.caplen, ethertype, off)) return std::nullopt;
  return ParseIp(ethertype, p + off, header.caplen - off, header.ts.tv_sec + header.ts.tv_usec / 1e6);
}

// One 4-tuple's connections as the segments so far tell them.
struct Incarnation {
  int number = 0;
  std::optional<uint32_t> isn[2];  // per direction (see Direction())
};

using Side = std::pair<std::string, uint16_t>;

// 0 for the segment going from the lower endpoint to the higher, 1 the other way;
// a self-connection has one direction, 0.
int Direction(const TcpSegment& s) { return Side{s.src, s.sport} <= Side{s.dst, s.dport} ? 0 : 1; }

std::optional<int64_t> Relative(uint32_t value, const std::optional<uint32_t>& isn) {
  if (!isn) return std::nullopt;
  return static_cast<int32_t>(value - *isn);
}


}  // namespace

std::string TcpSegment::flag_string() const {
  std::string text;
  if (flags & 0x01) text += 'F';
  if (flags & 0x02) text += 'S';
  if (flags & 0x04) text += 'R';
  if (flags & 0x08) text += 'P';
  if (flags & 0x10) text += '.';
  return text.empty() ? "none" : text;
}

// A SYN without ACK whose ISN differs from its direction's starts the next
// connection; a SYN-ACK gives the other direction its ISN.
void NumberIncarnations(std::vector<TcpSegment>& segments) {
  std::map<std::pair<Side, Side>, Incarnation> by_tuple;
  for (auto& s : segments) {
    const Side a{s.src, s.sport}, b{s.dst, s.dport};
    Incarnation& inc = by_tuple[std::minmax(a, b)];
    const int d = Direction(s);
    const bool self = a == b;
    const int other = self ? d : 1 - d;
    if (s.syn() && !s.has_ack()) {
      const bool retransmission = inc.isn[d] == s.seq;
      const bool simultaneous_open = !self && !inc.isn[d] && inc.isn[other];
      if (!retransmission && !simultaneous_open) {
        ++inc.number;
        inc.isn[other].reset();
      }
      inc.isn[d] = s.seq;
    } else if (s.syn()) {
      if (inc.number == 0) inc.number = 1;
      inc.isn[d] = s.seq;
    } else if (inc.number == 0) {
      inc.number = 1;
    }
    s.incarnation = inc.number;
    s.relative_seq = Relative(s.seq, inc.isn[d]);
    s.relative_ack = s.has_ack() ? Relative(s.ack, inc.isn[other]) : std::nullopt;
  }
}

std::vector<TcpSegment> ReadTcpSegments(const std::filesystem::path& file) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  std::unique_ptr<pcap_t, decltype(&pcap_close)> handle(pcap_open_offline(file.c_str(), errbuf), pcap_close);
  if (!handle) throw LabError("cannot read capture " + file.string() + ": " + errbuf);
  const int linktype = pcap_datalink(handle.get());
  if (linktype != kLinkTypeSll && linktype != kLinkTypeSll2 && linktype != DLT_EN10MB && linktype != DLT_RAW) {
    throw LabError("capture " + file.string() + " has link type " + std::to_string(linktype) +
                   ", which the lab does not parse");
  }
  std::vector<TcpSegment> segments;
  struct pcap_pkthdr* header = nullptr;
  const u_char* bytes = nullptr;
  while (pcap_next_ex(handle.get(), &header, &bytes) == 1) {
    if (auto seg = ParseTcp(linktype, *header, bytes)) segments.push_back(std::move(*seg));
  }
  NumberIncarnations(segments);
  return segments;
}

std::optional<TcpSegment> ParseIpPacket(const uint8_t* packet, size_t length, double time) {
  if (length < 1) return std::nullopt;
  const int ethertype = (packet[0] >> 4) == 6 ? kEtherTypeIpv6 : kEtherTypeIpv4;
  return ParseIp(ethertype, packet, static_cast<uint32_t>(length), time);
}

bool TcpSegment::SameHeader(const TcpSegment& o) const {
  return std::tie(src, sport, dst, dport, seq, ack, flags) == std::tie(o.src, o.sport, o.dst, o.dport, o.seq, o.ack, o.flags);
}

std::vector<TcpSegment> Flow(const std::vector<TcpSegment>& all, uint16_t port_a, uint16_t port_b) {
  std::vector<TcpSegment> out;
  for (const auto& s : all) {
    if ((s.sport == port_a && s.dport == port_b) || (s.sport == port_b && s.dport == port_a)) out.push_back(s);
  }
  return out;
}

std::vector<TcpSegment> SentBy(const std::vector<TcpSegment>& all, const Endpoint& from, double since) {
  std::vector<TcpSegment> out;
  for (const auto& s : all) {
    if (s.src == from.ip && s.sport == from.port && s.time >= since) out.push_back(s);
  }
  return out;
}

std::vector<std::string> FlagStrings(const std::vector<TcpSegment>& segments) {
  std::vector<std::string> out;
  for (const auto& s : segments) out.push_back(s.flag_string());
  return out;
}

int CountSyns(const std::vector<TcpSegment>& segments) {
  int n = 0;
  for (const auto& s : segments) n += s.syn() && !s.has_ack();
  return n;
}

}  // namespace tcprepro
