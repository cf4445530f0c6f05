#include "netns/raw_tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "netns/error.h"
#include "netns/unique_fd.h"

namespace tcprepro {
namespace {

void Put16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = v >> 8;
  out[at + 1] = v & 0xff;
}
void Put32(std::vector<uint8_t>& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = (v >> (24 - 8 * i)) & 0xff;
}

uint32_t SumBytes(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (n % 2) sum += p[n - 1] << 8;
  return sum;
}

uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::vector<uint8_t> Header(const CraftedSegment& s) {
  const size_t length = s.ts_val ? 32 : 20;  // NOP, NOP, TS(10) = 12 bytes of options
  std::vector<uint8_t> h(length, 0);
  Put16(h, 0, s.src.port);
  Put16(h, 2, s.dst.port);
  Put32(h, 4, s.seq);
  Put32(h, 8, s.ack);
  h[12] = static_cast<uint8_t>((length / 4) << 4);
  h[13] = s.flags;
  Put16(h, 14, s.window);
  if (s.ts_val) {
    h[20] = 1;
    h[21] = 1;
    h[22] = 8;
    h[23] = 10;
    Put32(h, 24, *s.ts_val);
    Put32(h, 28, s.ts_ecr.value_or(0));
  }
  return h;
}

}  // namespace

void SendCraftedSegment(const NetNamespace& ns, const CraftedSegment& segment) {
  RequireNotHost(ns, "send a crafted TCP segment");
  if (segment.src.family() != segment.dst.family()) throw LabError("crafted segment: mixed address families");
  NamespaceGuard inside(ns);
  std::vector<uint8_t> tcp = Header(segment);
  uint32_t pseudo = 0;
  UniqueFd fd;
  sockaddr_storage src{}, dst{};
  socklen_t len = 0;
  if (segment.src.family() == Family::kIpv4) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&src);
    auto* d4 = reinterpret_cast<sockaddr_in*>(&dst);
    s4->sin_family = d4->sin_family = AF_INET;
    if (inet_pton(AF_INET, segment.src.ip.c_str(), &s4->sin_addr) != 1 ||
        inet_pton(AF_INET, segment.dst.ip.c_str(), &d4->sin_addr) != 1) {
      throw LabError("crafted segment: bad IPv4 address");
    }
    len = sizeof(sockaddr_in);
    pseudo = SumBytes(reinterpret_cast<const uint8_t*>(&s4->sin_addr), 4) +
             SumBytes(reinterpret_cast<const uint8_t*>(&d4->sin_addr), 4) + IPPROTO_TCP + tcp.size();
    fd = UniqueFd(::socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
  } else {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&src);
    auto* d6 = reinterpret_cast<sockaddr_in6*>(&dst);
    s6->sin6_family = d6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, segment.src.ip.c_str(), &s6->sin6_addr) != 1 ||
        inet_pton(AF_INET6, segment.dst.ip.c_str(), &d6->sin6_addr) != 1) {
      throw LabError("crafted segment: bad IPv6 address");
    }
    len = sizeof(sockaddr_in6);
    pseudo = SumBytes(reinterpret_cast<const uint8_t*>(&s6->sin6_addr), 16) +
             SumBytes(reinterpret_cast<const uint8_t*>(&d6->sin6_addr), 16) + IPPROTO_TCP + tcp.size();
    fd = UniqueFd(::socket(AF_INET6, SOCK_RAW, IPPROTO_TCP));
  }
  if (!fd.valid()) ThrowErrno("socket(SOCK_RAW, IPPROTO_TCP)");
  // Binding the raw socket fixes the source address the kernel writes.
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), len) != 0) {
    ThrowErrno("bind raw socket to " + segment.src.ip);
  }
  Put16(tcp, 16, Fold(pseudo + SumBytes(tcp.data(), tcp.size())));
  const ssize_t sent = ::sendto(fd.get(), tcp.data(), tcp.size(), 0, reinterpret_cast<sockaddr*>(&dst), len);
  if (sent != static_cast<ssize_t>(tcp.size())) ThrowErrno("sendto crafted segment to " + segment.dst.ToString());
}

namespace {

uint32_t QueueSequence(int fd, int queue) {
  int on = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) ThrowErrno("setsockopt TCP_REPAIR");
  uint32_t seq = 0;
  socklen_t len = sizeof seq;
  const bool ok = ::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) == 0 &&
                  ::getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &len) == 0;
  const int saved = errno;
  int off = TCP_REPAIR_OFF_NO_WP;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off) != 0) ThrowErrno("setsockopt TCP_REPAIR off");
  errno = saved;
  if (!ok) ThrowErrno("getsockopt TCP_QUEUE_SEQ");
  return seq;
}

}  // namespace

uint32_t SendSequence(int fd) { return QueueSequence(fd, TCP_SEND_QUEUE); }
uint32_t ReceiveSequence(int fd) { return QueueSequence(fd, TCP_RECV_QUEUE); }

uint32_t CurrentTsVal(int fd) {
  uint32_t ts = 0;
  socklen_t len = sizeof ts;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &len) != 0) ThrowErrno("getsockopt TCP_TIMESTAMP");
  return ts;
}

}  // namespace tcprepro
