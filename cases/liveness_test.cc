// S4. Liveness (seed 002 §3.12–3.13; SCENARIOS.md §S4).
//
// What a TCP endpoint (the survivor, here the client) notices when its peer
// goes away: a crashed process (its kernel closes the socket: FIN, or RST with
// unread data), a pulled cable on an idle connection (nothing, unless
// keepalive), a pulled cable with data in flight (retransmissions until
// TCP_USER_TIMEOUT or tcp_retries2, or survival if the cable comes back), and a
// peer that lost its state meanwhile (RST).
//
// Topology: namespaces "client" and "server" joined by a veth pair, both
// captured. A "cut" is two drop rules on the server's end of the link
// (netns/impairment.h): ingress (client -> server) and egress (server ->
// client), for TCP of the variant's family; removing them restores the link.
// Dropping at the server end keeps every packet the client sends in the
// client's capture (and in the server's, which taps ingress before the drop);
// what the server sends during a cut appears in neither.
//
// Waits come from the protocol made short (TCP_KEEPIDLE/INTVL/CNT or the
// keepalive sysctls, TCP_USER_TIMEOUT, tcp_retries2), each bounded by a
// deadline; the only fixed wait is S4b's observation window, which is the
// observation itself.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cases/case_support.h"
#include "netns/capture.h"
#include "netns/impairment.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/record.h"
#include "netns/socket.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

constexpr uint16_t kServerPort = 40500;
// S4b: how long the idle survivor is watched after the cut. A window, not
// "forever": the claim is that nothing at all happens in it.
constexpr int kObservationWindowMillis = 2000;
// S4c: keepalive made short. Expected abort: idle + interval x probes = 3 s.
constexpr int kKeepIdleSeconds = 1, kKeepIntervalSeconds = 1, kKeepProbes = 2;
// S4d: TCP_USER_TIMEOUT, and the per-namespace tcp_retries2 whose modelled
// timeout (tcp_model_timeout(): (2^(n+1) - 1) x 200 ms) is 600 ms for n = 1.
// Both count from retrans_stamp, which the first RTO retransmission sets (a
// tail loss probe before it does not), so the abort comes later than that.
constexpr int kUserTimeoutMillis = 1000;
constexpr int kRetries2 = 1;
// S4d restored: the link comes back after this many retransmissions.
constexpr unsigned kRetransmissionsBeforeRestore = 2;
constexpr size_t kPayloadBytes = 1000;
// Bounds for anything that waits on the kernel: generous, for QEMU under TCG.
constexpr auto kDeadline = std::chrono::seconds(15);
constexpr int kIoTimeoutMillis = 20000;

struct Variant {
  Family family;
};

std::string VariantName(const Variant& v) { return FamilyName(v.family) + "_veth"; }
void PrintTo(const Variant& v, std::ostream* os) { *os << VariantName(v); }

double EpochSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct RecvOutcome {
  ssize_t result = 0;  // bytes, 0 for EOF, -1 for an error
  int err = 0;
  double elapsed_ms = 0;
};

// One blocking recv() (bounded by SO_RCVTIMEO): EOF, data or the error the
// connection ended with.
RecvOutcome BlockingRecv(int fd) {
  SetIoTimeout(fd, kIoTimeoutMillis);
  char buf[4096];
  const auto start = std::chrono::steady_clock::now();
  RecvOutcome out;
  out.result = ::recv(fd, buf, sizeof buf, 0);
  out.err = out.result < 0 ? errno : 0;
  out.elapsed_ms = MillisSince(start);
  return out;
}

std::string RecvResultName(const RecvOutcome& r) {
  if (r.result == 0) return "eof";
  if (r.result > 0) return "data";
  return "error";
}

struct Connection {
  UniqueFd client, server;
  Endpoint client_end, server_end;
};

// The two namespaces, their link, their captures, and the cut.
class LivenessLab {
 public:
  LivenessLab(Family family, const std::filesystem::path& evidence_dir)
      : family_(family),
        client_ns_(NetNamespace::Create("client")),
        server_ns_(NetNamespace::Create("server")),
        veth_(VethEnd{&client_ns_, "veth0", {"10.201.0.1/24", "fd00:201::1/64"}},
              VethEnd{&server_ns_, "veth1", {"10.201.0.2/24", "fd00:201::2/64"}}),
        client_capture_(client_ns_, evidence_dir / "client.pcap"),
        server_capture_(server_ns_, evidence_dir / "server.pcap") {}

  const NetNamespace& client_ns() const { return client_ns_; }
  const NetNamespace& server_ns() const { return server_ns_; }
  std::string client_ip() const { return family_ == Family::kIpv4 ? "10.201.0.1" : "fd00:201::1"; }
  std::string server_ip() const { return family_ == Family::kIpv4 ? "10.201.0.2" : "fd00:201::2"; }

  // A connection from client to server; `before_connect` sets client options.
  Connection Connect(const std::function<void(int)>& before_connect = {}) {
    const Endpoint service{server_ip(), kServerPort};
    UniqueFd listener;
    {
      NamespaceGuard inside(server_ns_);
      listener = TcpSocket(family_);
      SetReuseAddr(listener.get());
      if (int err = BindErrno(listener.get(), service)) throw LabError("bind " + service.ToString() + ": " + ErrnoName(err));
      if (int err = ListenErrno(listener.get())) throw LabError("listen: " + ErrnoName(err));
    }
    Connection c;
    {
      NamespaceGuard inside(client_ns_);
      c.client = TcpSocket(family_);
      SetIoTimeout(c.client.get(), kIoTimeoutMillis);
      if (before_connect) before_connect(c.client.get());
      if (int err = ConnectErrno(c.client.get(), service)) throw LabError("connect " + service.ToString() + ": " + ErrnoName(err));
    }
    c.server = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.server.valid()) ThrowErrno("accept");
    c.client_end = LocalEndpoint(c.client.get());
    c.server_end = LocalEndpoint(c.server.get());
    return c;
  }

  // Client -> server "hello", then waits until the client has its ACK: after
  // this neither side owes the other a segment, so anything the client sends
  // later is caused by what the story does next.
  void Exchange(const Connection& c) {
    const std::string hello = "hello";
    if (::send(c.client.get(), hello.data(), hello.size(), 0) != static_cast<ssize_t>(hello.size())) ThrowErrno("send hello");
    char buf[16];
    SetIoTimeout(c.server.get(), kIoTimeoutMillis);
    if (::recv(c.server.get(), buf, sizeof buf, 0) != static_cast<ssize_t>(hello.size())) ThrowErrno("recv hello");
    if (!WaitFor([&] { return TcpInfo(c.client.get()).tcpi_unacked == 0; }, kDeadline)) throw LabError("hello was never acknowledged");
  }

  // The common opening of the cut stories: connect, exchange until idle, cut.
  Connection ConnectIdleAndCut(ScenarioRecord& record, const std::function<void(int)>& before_connect = {}) {
    Connection c = Connect(before_connect);
    Exchange(c);
    Cut(record);
    return c;
  }

  // The client sends kPayloadBytes (into the cut, in the S4d stories).
  void SendPayload(const Connection& c) {
    const std::string data(kPayloadBytes, 'd');
    if (::send(c.client.get(), data.data(), data.size(), 0) != static_cast<ssize_t>(data.size())) {
      ThrowErrno("send payload");
    }
  }

  // Waits until the client has retransmitted kRetransmissionsBeforeRestore
  // times (tcpi_total_retrans; a tail loss probe counts).
  void AwaitRetransmissions(const Connection& c) {
    if (!WaitFor([&] { return TcpInfo(c.client.get()).tcpi_total_retrans >= kRetransmissionsBeforeRestore; }, kDeadline)) {
      throw LabError("no retransmissions during the cut");
    }
  }

  // Pulls the cable: every TCP packet of the family in both directions is dropped at the server's end.
  void Cut(ScenarioRecord& record) {
    PacketMatch all;
    all.family = family_;
    // The cut begins with the first rule: installing one can take a second
    // under TCG (an iptables process), and packets sent meanwhile belong to it.
    cut_at_ = EpochSeconds();
    to_server_ = Impair(server_ns_, {"veth1", Direction::kIngress, all, ImpairAction::Drop()});
    to_client_ = Impair(server_ns_, {"veth1", Direction::kEgress, all, ImpairAction::Drop()});
    record.NoteImpairment(*to_server_);
    record.NoteImpairment(*to_client_);
    record.Observe("cut", "drop " + all.Describe() + " on the server's veth, ingress and egress");
  }
  // Plugs the cable back in. The restore begins when the first rule goes
  // (removing one can take a second under TCG); the peer's direction goes
  // first, so that an answer to a segment let through meanwhile is not lost.
  void Restore() {
    restored_at_ = EpochSeconds();
    if (to_server_) dropped_to_server_ = to_server_->impaired();
    if (to_client_) dropped_to_client_ = to_client_->impaired();
    to_client_.reset();
    to_server_.reset();
  }
  const Impairment* to_client() const { return to_client_.get(); }
  double cut_at() const { return cut_at_; }
  double restored_at() const { return restored_at_; }

  // Stops both captures and notes how many packets the cut dropped.
  void Finish(ScenarioRecord& record) {
    if (to_server_ || to_client_) Restore();
    client_capture_.Stop();
    server_capture_.Stop();
    record.Observe("dropped_to_server", dropped_to_server_);
    record.Observe("dropped_to_client", dropped_to_client_);
    record.AddCapture(client_capture_, "the survivor's namespace: every segment it sent and received");
    record.AddCapture(server_capture_, "the peer's namespace; taps ingress before the cut drops it, and does not "
                                       "show what the peer sent during the cut (dropped on egress)");
  }

  std::vector<TcpSegment> ClientSegments() const { return ReadTcpSegments(client_capture_.file()); }

 private:
  Family family_;
  NetNamespace client_ns_, server_ns_;
  VethPair veth_;
  PacketCapture client_capture_, server_capture_;
  std::unique_ptr<Impairment> to_server_, to_client_;
  uint64_t dropped_to_server_ = 0, dropped_to_client_ = 0;
  double cut_at_ = 0, restored_at_ = 0;
};

bool From(const TcpSegment& s, const Endpoint& e) { return s.src == e.ip && s.sport == e.port; }

// Segments `from` sent on the connection after `since` (epoch seconds).
std::vector<TcpSegment> SentAfter(const std::vector<TcpSegment>& all, const Endpoint& from, double since) {
  std::vector<TcpSegment> out;
  for (const auto& s : all) {
    if (From(s, from) && s.time >= since) out.push_back(s);
  }
  return out;
}

std::vector<std::string> Flags(const std::vector<TcpSegment>& segments) {
  std::vector<std::string> out;
  for (const auto& s : segments) out.push_back(s.flag_string());
  return out;
}

// Offsets in ms of each segment from `origin` (epoch seconds).
std::vector<long> OffsetsMs(const std::vector<TcpSegment>& segments, double origin) {
  std::vector<long> out;
  for (const auto& s : segments) out.push_back(std::lround((s.time - origin) * 1000));
  return out;
}

// A forked child that holds a socket until it is killed; the destructor kills
// and reaps it whatever happened.
class SocketHolder {
 public:
  SocketHolder() {
    pid_ = ::fork();
    if (pid_ < 0) ThrowErrno("fork");
    if (pid_ == 0) {
      // Only async-signal-safe calls here: the parent has threads (captures).
      for (;;) ::pause();
    }
  }
  ~SocketHolder() {
    if (pid_ > 0) Kill();
  }
  SocketHolder(const SocketHolder&) = delete;
  SocketHolder& operator=(const SocketHolder&) = delete;

  // SIGKILL and reap: the child's kernel-side exit closes its descriptors.
  void Kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

enum class KeepaliveConfig { kSocketOptions, kNamespaceSysctls };

class Liveness : public ::testing::TestWithParam<Variant> {
 protected:
  ScenarioRecord& Record(const std::string& scenario) {
    record_ = std::make_unique<ScenarioRecord>(
        EvidenceDirForCurrentTest(), scenario,
        nlohmann::json{{"family", FamilyName(GetParam().family)}, {"address", "veth"}});
    return *record_;
  }

  // S4a: the server's process dies; `unread` bytes are left unread in its socket.
  void RunCrashStory(ScenarioRecord& record, size_t unread) {
    LivenessLab lab(GetParam().family, record.dir());
    Connection c = lab.Connect();
    lab.Exchange(c);
    if (unread > 0) {
      const std::string data(unread, 'u');
      ASSERT_EQ(::send(c.client.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
      ASSERT_TRUE(WaitFor([&] { return TcpInfo(c.client.get()).tcpi_unacked == 0; }, kDeadline)) << "unread data never acked";
    }
    int queued = 0;
    ASSERT_EQ(::ioctl(c.server.get(), FIONREAD, &queued), 0);

    SocketHolder holder;  // holds its inherited copy of the server's socket
    c.server.reset();  // the child's copy is now the only one
    const double killed_at = EpochSeconds();
    const auto start = std::chrono::steady_clock::now();
    holder.Kill();
    const RecvOutcome got = BlockingRecv(c.client.get());
    const double ms = MillisSince(start);
    const std::string state = TcpState(c.client.get());
    lab.Finish(record);

    const auto from_server = SentAfter(lab.ClientSegments(), c.server_end, killed_at);
    ASSERT_FALSE(from_server.empty()) << "nothing from the peer after the kill in the survivor's capture";
    record.Observe("unread_bytes_in_peer", queued);
    record.Observe("recv_result", RecvResultName(got));
    record.Observe("recv_errno", ErrnoName(got.err));
    record.Observe("ms_from_kill_to_recv", ms);
    record.Observe("survivor_state", state);
    record.Observe("peer_segments_after_kill", Flags(from_server));
  }

  // S4c: keepalive, configured per socket or per namespace, on an idle connection whose link is cut.
  void RunKeepaliveStory(ScenarioRecord& record, KeepaliveConfig config) {
    LivenessLab lab(GetParam().family, record.dir());
    std::vector<std::unique_ptr<SysctlGuard>> sysctls;
    if (config == KeepaliveConfig::kNamespaceSysctls) {
      for (const auto& [key, value] : {std::pair{"net.ipv4.tcp_keepalive_time", kKeepIdleSeconds},
                                       std::pair{"net.ipv4.tcp_keepalive_intvl", kKeepIntervalSeconds},
                                       std::pair{"net.ipv4.tcp_keepalive_probes", kKeepProbes}}) {
        sysctls.push_back(std::make_unique<SysctlGuard>(lab.client_ns(), key, std::to_string(value)));
        record.NoteSysctl(*sysctls.back());
      }
    }
    Connection c = lab.ConnectIdleAndCut(record, [&](int fd) {
      if (config == KeepaliveConfig::kSocketOptions) {
        SetIntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE, kKeepIdleSeconds, "TCP_KEEPIDLE");
        SetIntOption(fd, IPPROTO_TCP, TCP_KEEPINTVL, kKeepIntervalSeconds, "TCP_KEEPINTVL");
        SetIntOption(fd, IPPROTO_TCP, TCP_KEEPCNT, kKeepProbes, "TCP_KEEPCNT");
      }
    });
    // Keepalive goes on once the cut is in place, so that a slow cut cannot
    // let a probe through: SO_KEEPALIVE arms the timer for the full idle time
    // (tcp_set_keepalive()), and the connection has been idle since the exchange.
    const double keepalive_on_at = EpochSeconds();
    const auto idle_from = std::chrono::steady_clock::now();
    SetIntOption(c.client.get(), SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
    const RecvOutcome got = BlockingRecv(c.client.get());
    const double ms = MillisSince(idle_from);
    const std::string state = TcpState(c.client.get());
    lab.Finish(record);

    const auto after_cut = SentAfter(lab.ClientSegments(), c.client_end, lab.cut_at());
    int probes = 0;
    for (const auto& s : after_cut) probes += s.payload == 0 && !(s.flags & (kTcpSyn | kTcpFin | kTcpRst));
    record.Observe("keepalive_config", config == KeepaliveConfig::kSocketOptions ? "TCP_KEEPIDLE/KEEPINTVL/KEEPCNT"
                                                                                 : "net.ipv4.tcp_keepalive_*");
    record.Observe("keepalive_idle_s", kKeepIdleSeconds);
    record.Observe("keepalive_interval_s", kKeepIntervalSeconds);
    record.Observe("keepalive_probes_configured", kKeepProbes);
    record.Observe("modelled_abort_ms", (kKeepIdleSeconds + kKeepIntervalSeconds * kKeepProbes) * 1000);
    record.Observe("recv_result", RecvResultName(got));
    record.Observe("recv_errno", ErrnoName(got.err));
    record.Observe("ms_keepalive_on_to_error", ms);
    record.Observe("survivor_state", state);
    record.Observe("probes_in_pcap", probes);
    record.Observe("survivor_segments_after_cut", Flags(after_cut));
    record.Observe("probe_offsets_ms", OffsetsMs(after_cut, keepalive_on_at));
  }

  // S4d: data sent into a cut link until TCP_USER_TIMEOUT or tcp_retries2
  // ends the connection; then the link comes back and the peer sends.
  void RunDataTimeoutStory(ScenarioRecord& record, bool user_timeout) {
    LivenessLab lab(GetParam().family, record.dir());
    std::unique_ptr<SysctlGuard> retries2;
    if (!user_timeout) {
      retries2 = std::make_unique<SysctlGuard>(lab.client_ns(), "net.ipv4.tcp_retries2", std::to_string(kRetries2));
      record.NoteSysctl(*retries2);
    }
    Connection c = lab.ConnectIdleAndCut(record, [&](int fd) {
      if (user_timeout) SetIntOption(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, kUserTimeoutMillis, "TCP_USER_TIMEOUT");
    });
    const auto sent_at = std::chrono::steady_clock::now();
    lab.SendPayload(c);
    const RecvOutcome got = BlockingRecv(c.client.get());
    const double ms = MillisSince(sent_at);
    const std::string state = TcpState(c.client.get());
    // The seed's epilogue: the cable comes back and the peer, which never
    // noticed anything, sends; the survivor no longer has the connection.
    lab.Restore();
    const std::string late = "late";
    const ssize_t late_sent = ::send(c.server.get(), late.data(), late.size(), MSG_NOSIGNAL);
    const RecvOutcome peer_got = BlockingRecv(c.server.get());
    lab.Finish(record);

    const auto segments = lab.ClientSegments();
    const auto after_cut = SentAfter(segments, c.client_end, lab.cut_at());
    const auto after_restore = SentAfter(segments, c.client_end, lab.restored_at());
    record.Observe("peer_send_after_restore", late_sent == static_cast<ssize_t>(late.size()));
    record.Observe("peer_recv_after_restore", RecvResultName(peer_got));
    record.Observe("peer_recv_errno_after_restore", ErrnoName(peer_got.err));
    record.Observe("survivor_reply_after_restore", Flags(after_restore));
    int data_segments = 0;
    for (const auto& s : after_cut) data_segments += s.payload > 0;
    ASSERT_GE(data_segments, 1) << "the data segment is not in the survivor's capture";
    record.Observe("limit", user_timeout ? "TCP_USER_TIMEOUT" : "net.ipv4.tcp_retries2");
    record.Observe(user_timeout ? "user_timeout_ms" : "tcp_retries2", user_timeout ? kUserTimeoutMillis : kRetries2);
    record.Observe("recv_result", RecvResultName(got));
    record.Observe("recv_errno", ErrnoName(got.err));
    record.Observe("ms_send_to_error", ms);
    record.Observe("survivor_state", state);
    record.Observe("retransmissions_in_pcap", data_segments - 1);
    record.Observe("survivor_segments_after_cut", Flags(after_cut));
    record.Observe("survivor_segment_offsets_ms", OffsetsMs(after_cut, lab.cut_at()));
  }

 private:
  std::unique_ptr<ScenarioRecord> record_;
};

// S4a: the peer process is SIGKILLed; its kernel closes the socket with a FIN.
TEST_P(Liveness, S4a_ProcessCrash) {
  ScenarioRecord& record = Record("S4a");
  TCPREPRO_STORY(record, RunCrashStory(record, 0));
}

// S4a with data the dead process never read: the kernel resets instead.
TEST_P(Liveness, S4a_ProcessCrashUnreadData) {
  ScenarioRecord& record = Record("S4a-unread");
  TCPREPRO_STORY(record, RunCrashStory(record, 100));
}

// S4b: the cable is pulled on an idle connection without keepalive; the
// survivor is watched for a fixed window.
TEST_P(Liveness, S4b_IdleNoKeepalive) {
  ScenarioRecord& record = Record("S4b");
  TCPREPRO_STORY(record, {
    LivenessLab lab(GetParam().family, record.dir());
    Connection c = lab.ConnectIdleAndCut(record);
    pollfd watch{c.client.get(), POLLIN | POLLRDHUP, 0};
    const int ready = ::poll(&watch, 1, kObservationWindowMillis);
    ASSERT_GE(ready, 0) << "poll";
    const struct tcp_info info = TcpInfo(c.client.get());
    const int so_error = SocketError(c.client.get());
    const std::string peer_state = TcpState(c.server.get());
    lab.Finish(record);

    const auto after_cut = SentAfter(lab.ClientSegments(), c.client_end, lab.cut_at());
    record.Observe("observation_window_ms", kObservationWindowMillis);
    record.Observe("poll_events", static_cast<int>(watch.revents));
    record.Observe("survivor_state", TcpStateName(info.tcpi_state));
    record.Observe("survivor_so_error", ErrnoName(so_error));
    record.Observe("survivor_segments_after_cut", static_cast<int>(after_cut.size()));
    record.Observe("survivor_retransmits", static_cast<int>(info.tcpi_retransmits));
    record.Observe("survivor_probes", static_cast<int>(info.tcpi_probes));
    record.Observe("peer_state", peer_state);
  });
}

TEST_P(Liveness, S4c_KeepaliveSocketOptions) {
  ScenarioRecord& record = Record("S4c-sockopt");
  TCPREPRO_STORY(record, RunKeepaliveStory(record, KeepaliveConfig::kSocketOptions));
}

TEST_P(Liveness, S4c_KeepaliveNamespaceSysctls) {
  ScenarioRecord& record = Record("S4c-sysctl");
  TCPREPRO_STORY(record, RunKeepaliveStory(record, KeepaliveConfig::kNamespaceSysctls));
}

// S4d: the cable comes back after two retransmissions, well within the
// default retry budget: the data arrives, the connection lives on.
TEST_P(Liveness, S4d_LinkRestored) {
  ScenarioRecord& record = Record("S4d-restored");
  TCPREPRO_STORY(record, {
    LivenessLab lab(GetParam().family, record.dir());
    Connection c = lab.ConnectIdleAndCut(record);
    const auto sent_at = std::chrono::steady_clock::now();
    lab.SendPayload(c);
    lab.AwaitRetransmissions(c);
    const unsigned retrans_during_cut = TcpInfo(c.client.get()).tcpi_total_retrans;
    const double ms_cut = MillisSince(sent_at);
    lab.Restore();

    size_t received = 0;
    int recv_errno = 0;
    SetIoTimeout(c.server.get(), kIoTimeoutMillis);
    while (received < kPayloadBytes) {
      char buf[4096];
      const ssize_t n = ::recv(c.server.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        recv_errno = n < 0 ? errno : 0;
        break;
      }
      received += static_cast<size_t>(n);
    }
    const double ms_arrival = MillisSince(sent_at);
    const bool acked = WaitFor([&] { return TcpInfo(c.client.get()).tcpi_unacked == 0; }, kDeadline);
    const struct tcp_info info = TcpInfo(c.client.get());
    const int so_error = SocketError(c.client.get());
    lab.Finish(record);

    const auto after_cut = SentAfter(lab.ClientSegments(), c.client_end, lab.cut_at());
    int data_segments = 0;
    for (const auto& s : after_cut) data_segments += s.payload > 0;
    record.Observe("retransmissions_before_restore", static_cast<int>(retrans_during_cut));
    record.Observe("ms_send_to_restore", ms_cut);
    record.Observe("ms_send_to_arrival", ms_arrival);
    record.Observe("bytes_sent", kPayloadBytes);
    record.Observe("bytes_arrived", received);
    record.Observe("peer_recv_errno", ErrnoName(recv_errno));
    record.Observe("data_acked", acked);
    record.Observe("survivor_state", TcpStateName(info.tcpi_state));
    record.Observe("survivor_so_error", ErrnoName(so_error));
    record.Observe("data_segments_in_pcap", data_segments);
    record.Observe("survivor_segment_offsets_ms", OffsetsMs(after_cut, lab.cut_at()));
  });
}

// S4d: the cable stays out; TCP_USER_TIMEOUT ends the connection.
TEST_P(Liveness, S4d_UserTimeout) {
  ScenarioRecord& record = Record("S4d-user-timeout");
  TCPREPRO_STORY(record, RunDataTimeoutStory(record, true));
}

// S4d: the cable stays out; a small per-namespace tcp_retries2 ends it.
TEST_P(Liveness, S4d_Retries2) {
  ScenarioRecord& record = Record("S4d-retries2");
  TCPREPRO_STORY(record, RunDataTimeoutStory(record, false));
}

// S4d: while the cable is out the peer loses its state (its socket is reset,
// and the RST is lost in the cut, as in a reboot); when the cable comes back,
// the survivor's next retransmission is answered with an RST.
TEST_P(Liveness, S4d_PeerReturnsWithoutState) {
  ScenarioRecord& record = Record("S4d-peer-rst");
  TCPREPRO_STORY(record, {
    LivenessLab lab(GetParam().family, record.dir());
    Connection c = lab.ConnectIdleAndCut(record);
    lab.SendPayload(c);
    lab.AwaitRetransmissions(c);
    SetAbortiveClose(c.server.get());
    c.server.reset();
    ASSERT_TRUE(lab.to_client()->WaitMatched(1, kDeadline)) << "the peer's RST did not reach the cut";
    const auto restored = std::chrono::steady_clock::now();
    lab.Restore();
    const RecvOutcome got = BlockingRecv(c.client.get());
    const double ms = MillisSince(restored);
    const std::string state = TcpState(c.client.get());
    lab.Finish(record);

    const auto segments = lab.ClientSegments();
    const auto peer_after = SentAfter(segments, c.server_end, lab.restored_at());
    record.Observe("recv_result", RecvResultName(got));
    record.Observe("recv_errno", ErrnoName(got.err));
    record.Observe("ms_restore_to_error", ms);
    record.Observe("survivor_state", state);
    record.Observe("peer_segments_after_restore", Flags(peer_after));
    record.Observe("survivor_segments_after_cut", Flags(SentAfter(segments, c.client_end, lab.cut_at())));
  });
}

INSTANTIATE_TEST_SUITE_P(S4, Liveness, ::testing::Values(Variant{Family::kIpv4}, Variant{Family::kIpv6}),
                         [](const auto& info) { return VariantName(info.param); });

}  // namespace
}  // namespace tcprepro
