#include "netns/raw_tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "netns/error.h"
#include "netns/socket.h"
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
  // Raw sockets take no port in their addresses: the ports are in the header.
  sockaddr_storage src{}, dst{};
  const socklen_t len = ToSockaddr({segment.src.ip, 0}, src);
  ToSockaddr({segment.dst.ip, 0}, dst);
  const bool v4 = segment.src.family() == Family::kIpv4;
  auto address_sum = [v4](const sockaddr_storage& ss) {
    return v4 ? SumBytes(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr), 4)
              : SumBytes(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr), 16);
  };
  const uint32_t pseudo = address_sum(src) + address_sum(dst) + IPPROTO_TCP + tcp.size();
  UniqueFd fd(::socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, IPPROTO_TCP));
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
  return static_cast<uint32_t>(GetIntOption(fd, IPPROTO_TCP, TCP_TIMESTAMP, "TCP_TIMESTAMP"));
}

}  // namespace tcprepro
