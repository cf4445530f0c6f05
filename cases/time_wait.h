// S3. TIME_WAIT and tcp_tw_reuse: what the story files of the family share.
//
// Claims: a server that closes its connections first and restarts cannot bind
// its port while their TIME_WAITs exist, unless it sets SO_REUSEADDR (S3a);
// tcp_tw_reuse lets connect() take a 4-tuple still in TIME_WAIT (timestamps
// on, after a second; S3b); it is dangerous because a stale RST is accepted
// even when it fails PAWS (S3c) and because a lost final ACK leaves the peer
// in LAST_ACK when the 4-tuple comes back (S3d); a TIME_WAIT that receives a
// newer SYN opens a new connection, an older one gets an ACK and then the
// client's RST (S3e); an RST ends a TIME_WAIT early unless tcp_rfc1337=1 (S3f).
//
// Waits come from the protocol (the SYN retransmit, the reuse delay, a
// retransmitted FIN) and poll observable state with a deadline; nothing sleeps
// for a fixed time. harness/scenarios/time_wait.toml judges the kernel.
//
// The client's ip_local_port_range is one port (kClientPort) in the reuse
// stories: a reconnect can only get the old 4-tuple, and connect() says
// EADDRNOTAVAIL until the kernel lets it reuse the TIME_WAIT — that is how the
// reuse delay is measured.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cases/story.h"
#include "netns/clock.h"
#include "netns/tcp_table.h"

namespace tcprepro {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr uint16_t kServerPort = 5000;
inline constexpr uint16_t kClientPort = 40000;
inline constexpr const char* kOnePortRange = "40000 40000";
// Bounds for waits on protocol events. Generous: under TCG emulation a
// namespace switch or a process spawn takes tens of milliseconds.
inline constexpr auto kEventDeadline = 10s;
// How long a reconnect keeps trying while connect() says EADDRNOTAVAIL: the
// reuse delay is at most 1 s (or tcp_tw_reuse_delay, set small or left at
// 1000 ms), so 2.5 s separates "reused after the delay" from "never" (TIME_WAIT
// lasts 60 s) and keeps a "never" variant short.
inline constexpr auto kReuseDeadline = 2500ms;
inline constexpr int kIoTimeoutMillis = 10000;

// The stories between one namespace's own sockets (S3a, S3b on loopback) and
// between a client and a server on a veth (the rest).
class TimeWaitOnLoopback : public LabStory {};
class TimeWaitOverVeth : public LabStory {};

// The client's sysctls for a reuse story: tcp_tw_reuse, the one-port range,
// and tcp_tw_reuse_delay where the kernel has it (absent before v6.14), set
// to 1 ms when `small_delay`. Observes the delay's default ("absent" without it).
void SetClientReuse(TwoHostLab& lab, const std::string& tw_reuse, bool small_delay);

// When the server's FIN leaves in a reuse story. Its arrival stamps the
// client's TIME_WAIT: before v6.14 in whole seconds of ktime_get_seconds()
// (tw_ts_recent_stamp), and reuse is allowed once that clock has ticked past
// the stamp, anywhere in (0, 1] s after it depending on where in the second
// the FIN arrived; from v6.14 in milliseconds (tw_entry_stamp), reuse after
// tcp_tw_reuse_delay. kBeforeSecondTick places the FIN kFinBeforeTick before
// the monotonic clock's next whole second (CLOCK_MONOTONIC's seconds are
// ktime_get_seconds()), so the reuse delay is the same in every run: a
// fraction of a second before v6.14, the full delay from it.
enum class ServerFin { kAtOnce, kBeforeSecondTick };
inline constexpr auto kFinBeforeTick = 300ms;

// The client closes first, the server follows: the client's 4-tuple
// (kClientPort) ends in TIME_WAIT. Throws if it does not get there.
struct ServerClose {
  Clock::time_point fin_at;   // just before the server's close(), which sends its FIN
  bool before_tick = true;    // kBeforeSecondTick: close() returned before the tick, so
                              // the FIN was stamped in the second before it
  double ms_before_tick = 0;  // kBeforeSecondTick: from fin_at to the tick
};
ServerClose ClientActiveClose(TwoHostLab& lab, UniqueFd& client, UniqueFd& server,
                              ServerFin when = ServerFin::kAtOnce);

struct Reconnect {
  UniqueFd fd;
  int err = 0;               // the last connect() errno
  int attempts = 0;          // connect() calls, EADDRNOTAVAIL ones included
  double wait_ms = 0;        // from `since` to the call that did not fail with EADDRNOTAVAIL
  double last_refused_ms = 0;  // from `since` to the last call that did (0 if none)
  double connect_ms = 0;     // that call's own duration (SYN to established)
  std::string server_state;  // the server socket's state just before that call, if asked
};

// Reconnects from the one-port range until connect() stops saying
// EADDRNOTAVAIL (the kernel let the TIME_WAIT be reused) or the deadline.
Reconnect ReconnectUntilReuse(TwoHostLab& lab, Clock::time_point since, std::chrono::milliseconds deadline,
                              const UniqueFd* server_socket = nullptr);

// The reused connection itself, accepted: reconnects on the TIME_WAIT 4-tuple
// (observing reconnect_errno, reuse_wait_ms, reused), or ends the story (StoryEnds: the
// hazard cannot arise) when the kernel does not reuse, e.g. with tcp_timestamps=0.
std::pair<UniqueFd, UniqueFd> ReuseOrEnd(TwoHostLab& lab, const UniqueFd& listener);

// "c:S", "s:S.", "c:R": who sent what, by the lab's lanes (the client is kClientPort).
std::string Labelled(const TcpSegment& s);
bool FromClient(const TcpSegment& s);

// The segments between kClientPort and kServerPort in `segments`.
std::vector<TcpSegment> StoryFlow(const std::vector<TcpSegment>& segments);

// The client's SYNs, one entry per distinct ISN (retransmissions repeat it).
std::vector<uint32_t> ClientIsns(const std::vector<TcpSegment>& flow);

}  // namespace tcprepro
