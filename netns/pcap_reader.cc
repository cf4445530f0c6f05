#include "netns/pcap_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <memory>

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

std::optional<TcpSegment> ParseTcp(int linktype, const struct pcap_pkthdr& header, const u_char* p) {
  int ethertype = 0;
  uint32_t off = 0;
  if (!LinkPayload(linktype, p, header.caplen, ethertype, off)) return std::nullopt;
  TcpSegment seg;
  seg.time = header.ts.tv_sec + header.ts.tv_usec / 1e6;
  uint32_t ip_payload_len = 0;
  if (ethertype == kEtherTypeIpv4) {
    if (header.caplen < off + 20 || p[off + 9] != IPPROTO_TCP) return std::nullopt;
    const uint32_t ihl = (p[off] & 0x0f) * 4u;
    ip_payload_len = Be16(p + off + 2) - ihl;
    seg.src = Ntop(AF_INET, p + off + 12);
    seg.dst = Ntop(AF_INET, p + off + 16);
    off += ihl;
  } else if (ethertype == kEtherTypeIpv6) {
    // The lab's stories send no extension headers.
    if (header.caplen < off + 40 || p[off + 6] != IPPROTO_TCP) return std::nullopt;
    ip_payload_len = Be16(p + off + 4);
    seg.src = Ntop(AF_INET6, p + off + 8);
    seg.dst = Ntop(AF_INET6, p + off + 24);
    off += 40;
  } else {
    return std::nullopt;
  }
  if (header.caplen < off + 20) return std::nullopt;
  const u_char* tcp = p + off;
  seg.sport = Be16(tcp);
  seg.dport = Be16(tcp + 2);
  seg.seq = Be32(tcp + 4);
  seg.ack = Be32(tcp + 8);
  const uint32_t data_offset = (tcp[12] >> 4) * 4u;
  seg.flags = tcp[13];
  seg.window = Be16(tcp + 14);
  seg.payload = ip_payload_len > data_offset ? ip_payload_len - data_offset : 0;
  const uint32_t options_captured = std::min(data_offset, header.caplen - off);
  if (options_captured > 20) ParseTimestampOption(tcp + 20, options_captured - 20, seg);
  return seg;
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
  return segments;
}

}  // namespace tcprepro
