// S3b: what tcp_tw_reuse lets connect() do with its own TIME_WAIT 4-tuple.
// One story per setting whose expected outcome is the same for both
// families; the sweep is the set of stories.
#include <optional>

#include "cases/time_wait.h"

namespace tcprepro {
namespace {

// A round decides the reuse delay when the FIN was stamped before the tick and
// the kernel's moment of allowing reuse is known closely enough: the first
// reconnect allowed came less than kPinnedWithin after the last one refused, or
// within kEarlyReuse of the FIN (reuse allowed that soon bounds the moment by
// itself; a TCG guest may see the TIME_WAIT only after the tick, with nothing
// refused). A stall of the story (a loaded machine, a starved guest) leaves a
// round undecided: the reused connection is closed the same way and measured again.
constexpr double kPinnedWithinMs = 200;
constexpr double kEarlyReuseMs = 600;
constexpr int kRounds = 3;

// A connection closed by the client, then reconnects on the same 4-tuple
// until the kernel allows it or the deadline.
void ReuseSweepStory(TwoHostLab& lab, const std::string& tw_reuse, bool timestamps) {
  SetClientReuse(lab, tw_reuse, /*small_delay=*/false);
  lab.Sysctl(lab.client(), "net.ipv4.tcp_timestamps", timestamps ? "1" : "0");
  UniqueFd listener = lab.Listen(kServerPort);
  UniqueFd client = lab.Connect(kServerPort, kIoTimeoutMillis);
  UniqueFd server = Accept(listener.get(), kIoTimeoutMillis);
  ASSERT_EQ(LocalEndpoint(client.get()).port, kClientPort);
  // Where reuse can happen, the FIN that stamps the TIME_WAIT goes just before
  // the seconds clock ticks, so the delay measured does not depend on luck.
  const bool may_reuse = tw_reuse != "0" && timestamps;
  ServerClose closed;
  Reconnect again;
  int round = 0;
  for (;;) {
    ++round;
    ASSERT_TRUE(Echo(client.get(), server.get()));
    closed = ClientActiveClose(lab, client, server, may_reuse ? ServerFin::kBeforeSecondTick : ServerFin::kAtOnce);
    again = ReconnectUntilReuse(lab, closed.fin_at, kReuseDeadline);
    const bool pinned = closed.before_tick && (again.wait_ms <= kEarlyReuseMs ||
                                               again.wait_ms - again.last_refused_ms <= kPinnedWithinMs);
    if (!may_reuse || again.err != 0 || pinned) break;
    if (round == kRounds) {
      throw LabError("the reuse delay was not pinned in " + std::to_string(kRounds) + " rounds (last: refused at " +
                     std::to_string(again.last_refused_ms) + " ms, reused at " + std::to_string(again.wait_ms) +
                     " ms after the FIN): the machine stalled the story");
    }
    client = std::move(again.fd);
    server = Accept(listener.get(), kIoTimeoutMillis);
  }
  const bool reused = again.err == 0;
  UniqueFd accepted;
  if (reused) accepted = Accept(listener.get(), kIoTimeoutMillis);
  lab.StopCaptures("the first connection, the client's close, and the reconnect on the same 4-tuple");

  lab.Observe("reused", reused);
  lab.Observe("reconnect_errno", ErrnoName(again.err));
  lab.Observe("reconnect_attempts", again.attempts);
  lab.Observe("reuse_wait_ms", reused ? nlohmann::json(again.wait_ms) : nlohmann::json(nullptr));
  lab.Observe("reuse_refused_until_ms", again.last_refused_ms);
  lab.Observe("deadline_ms", std::chrono::milliseconds(kReuseDeadline).count());
  if (may_reuse) {
    lab.Observe("fin_ms_before_tick", closed.ms_before_tick);
    lab.Observe("rounds", round);
  }
  const auto flow = StoryFlow(lab.ClientSegments());
  const auto isns = ClientIsns(flow);
  // The reused connection's ISN is the TIME_WAIT's snd_nxt + 65535 + 2
  // (tcp_twsk_unique()): take snd_nxt from the client's FIN before it (the
  // last one: the reused connection is still open).
  std::optional<uint32_t> old_snd_nxt;
  bool timestamps_on_syn = false;
  for (const auto& s : flow) {
    if (FromClient(s) && s.fin() && !isns.empty()) old_snd_nxt = s.seq + s.payload + 1;
    if (FromClient(s) && s.syn()) timestamps_on_syn = s.ts_val.has_value();
  }
  if (reused && isns.size() >= 2 && old_snd_nxt) {
    lab.Observe("reused_isn_minus_old_snd_nxt", static_cast<int64_t>(isns.back() - *old_snd_nxt));
  }
  lab.Observe("timestamps_negotiated", timestamps_on_syn);
}

nlohmann::json Setting(const std::string& tw_reuse, bool timestamps) {
  return {{"tcp_tw_reuse", "tw_reuse=" + tw_reuse}, {"tcp_timestamps", timestamps ? "timestamps=1" : "timestamps=0"}};
}

#define TCPREPRO_REUSE_SWEEP(fixture, name, tw_reuse, timestamps) \
  TEST_P(fixture, name) {                                         \
    TwoHostLab& lab = NewLab(Setting(tw_reuse, timestamps));      \
    TCPREPRO_STORY(lab, ReuseSweepStory(lab, tw_reuse, timestamps)); \
  }

TCPREPRO_REUSE_SWEEP(TimeWaitOnLoopback, S3b_reuse0_loopback, "0", true)
TCPREPRO_REUSE_SWEEP(TimeWaitOverVeth, S3b_reuse0_veth, "0", true)
TCPREPRO_REUSE_SWEEP(TimeWaitOnLoopback, S3b_reuse1_loopback, "1", true)
TCPREPRO_REUSE_SWEEP(TimeWaitOverVeth, S3b_reuse1_veth, "1", true)
TCPREPRO_REUSE_SWEEP(TimeWaitOnLoopback, S3b_reuse2_loopback, "2", true)
TCPREPRO_REUSE_SWEEP(TimeWaitOverVeth, S3b_reuse2_veth, "2", true)
TCPREPRO_REUSE_SWEEP(TimeWaitOnLoopback, S3b_nots_reuse2_loopback, "2", false)
TCPREPRO_REUSE_SWEEP(TimeWaitOverVeth, S3b_nots_reuse1_veth, "1", false)

}  // namespace
}  // namespace tcprepro
