// S4a: the peer's process is SIGKILLed; its kernel closes the socket.
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cases/liveness.h"
#include "netns/clock.h"

namespace tcprepro {
namespace {

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

// The server's process dies with `unread` bytes left unread in its socket.
void CrashStory(TwoHostLab& lab, size_t unread) {
  Connection c = Connect(lab);
  Exchange(c);
  if (unread > 0) {
    const std::string data(unread, 'u');
    ASSERT_EQ(::send(c.client.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    ASSERT_TRUE(WaitFor([&] { return TcpInfo(c.client.get()).tcpi_unacked == 0; }, kDeadline))
        << "unread data never acked";
  }
  int queued = 0;
  ASSERT_EQ(::ioctl(c.server.get(), FIONREAD, &queued), 0);

  SocketHolder holder;  // holds its inherited copy of the server's socket
  c.server.reset();     // the child's copy is now the only one
  const double killed_at = EpochSeconds();
  const auto start = std::chrono::steady_clock::now();
  holder.Kill();
  const RecvOutcome got = BlockingRecv(c.client.get());
  const double ms = MillisSince(start);
  const std::string state = TcpState(c.client.get());
  Finish(lab, "the connection, and how the peer's kernel closed it when its process was killed");

  const auto from_server = SentBy(lab.ClientSegments(), c.server_end, killed_at);
  ASSERT_FALSE(from_server.empty()) << "nothing from the peer after the kill in the survivor's capture";
  lab.Observe("unread_bytes_in_peer", queued);
  lab.Observe("recv_result", RecvResultName(got));
  lab.Observe("recv_errno", ErrnoName(got.err));
  lab.Observe("ms_from_kill_to_recv", ms);
  lab.Observe("survivor_state", state);
  lab.Observe("peer_segments_after_kill", FlagStrings(from_server));
}

// Its kernel closes the socket with a FIN.
TEST_P(Liveness, S4a) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, CrashStory(lab, 0));
}

// With data the dead process never read, the kernel resets instead.
TEST_P(Liveness, S4a_unread) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, CrashStory(lab, 100));
}

}  // namespace
}  // namespace tcprepro
