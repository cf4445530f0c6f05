// S3a: a server restarts while its closed connections are in TIME_WAIT.
#include "cases/time_wait.h"

namespace tcprepro {
namespace {

// The server closes its accepted connection first (TIME_WAIT on the server
// port), then its listener; a new listener binds the same port.
void RestartStory(TwoHostLab& lab, bool reuseaddr) {
  UniqueFd listener = lab.Listen(kServerPort, reuseaddr);
  UniqueFd client = lab.Connect(kServerPort, kIoTimeoutMillis);
  UniqueFd server = Accept(listener.get(), kIoTimeoutMillis);
  ASSERT_TRUE(Echo(client.get(), server.get()));
  const uint16_t client_port = LocalEndpoint(client.get()).port;
  server.reset();  // the server closes first
  char byte;
  ASSERT_EQ(::recv(client.get(), &byte, 1, 0), 0);
  client.reset();
  auto server_side_state = [&] { return TcpTableState(lab.server(), lab.family(), kServerPort, client_port); };
  ASSERT_TRUE(WaitFor([&] { return server_side_state() == "TIME_WAIT"; }, kEventDeadline))
      << "the server side never reached TIME_WAIT";
  listener.reset();  // the server process "exits"

  int bind_errno, listen_errno = -1;
  {
    NamespaceGuard inside(lab.server());
    UniqueFd restarted = TcpSocket(lab.family());
    if (reuseaddr) SetReuseAddr(restarted.get());
    bind_errno = BindErrno(restarted.get(), lab.ServerAt(kServerPort));
    if (bind_errno == 0) listen_errno = ListenErrno(restarted.get());
  }
  const bool still_time_wait = server_side_state() == "TIME_WAIT";
  lab.StopCaptures("one connection closed by the server first; the restart sends nothing");
  lab.Observe("so_reuseaddr", reuseaddr);
  lab.Observe("time_wait_on_server_port", still_time_wait);
  lab.Observe("restart_bind_errno", ErrnoName(bind_errno));
  lab.Observe("restart_listen_errno", listen_errno < 0 ? "not tried" : ErrnoName(listen_errno));
}

TEST_P(TimeWaitOnLoopback, S3a_no_reuseaddr) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, RestartStory(lab, false));
}

TEST_P(TimeWaitOnLoopback, S3a_reuseaddr) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, RestartStory(lab, true));
}

// The side claim: with SO_REUSEADDR one process listens on 0.0.0.0:P and
// another listens on a specific address on P. No packets: binds and listens only.
TEST_P(TimeWaitOnLoopback, S3a_wildcard_specific) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    NamespaceGuard inside(lab.server());
    const Endpoint wildcard = lab.Wildcard(kServerPort), specific = lab.ServerAt(kServerPort);
    auto reuse_socket = [&] {
      UniqueFd fd = TcpSocket(lab.family());
      SetReuseAddr(fd.get());
      return fd;
    };
    // 1. The wildcard socket listens; the specific one tries to bind.
    UniqueFd a = reuse_socket();
    ASSERT_EQ(BindErrno(a.get(), wildcard), 0);
    ASSERT_EQ(ListenErrno(a.get()), 0);
    UniqueFd b = reuse_socket();
    lab.Observe("specific_bind_errno_while_wildcard_listens", ErrnoName(BindErrno(b.get(), specific)));
    a.reset();
    b.reset();
    // 2. The wildcard socket is only bound (not listening); then both try to listen.
    UniqueFd c = reuse_socket();
    ASSERT_EQ(BindErrno(c.get(), wildcard), 0);
    UniqueFd d = reuse_socket();
    const int bound_errno = BindErrno(d.get(), specific);
    lab.Observe("specific_bind_errno_while_wildcard_bound", ErrnoName(bound_errno));
    lab.Observe("both_listen_errno",
                bound_errno == 0 ? ErrnoName(ListenErrno(c.get()) ?: ListenErrno(d.get())) : "not tried");
    c.reset();
    d.reset();
    // 3. The specific socket listens first; the wildcard one tries to bind.
    UniqueFd e = reuse_socket();
    ASSERT_EQ(BindErrno(e.get(), specific), 0);
    ASSERT_EQ(ListenErrno(e.get()), 0);
    UniqueFd f = reuse_socket();
    lab.Observe("wildcard_bind_errno_while_specific_listens", ErrnoName(BindErrno(f.get(), wildcard)));
    e.reset();
    f.reset();
    // 4. The same with SO_REUSEPORT on both, for contrast.
    UniqueFd g = TcpSocket(lab.family()), h = TcpSocket(lab.family());
    SetIntOption(g.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    SetIntOption(h.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    ASSERT_EQ(BindErrno(g.get(), wildcard), 0);
    ASSERT_EQ(ListenErrno(g.get()), 0);
    lab.Observe("reuseport_specific_bind_errno_while_wildcard_listens", ErrnoName(BindErrno(h.get(), specific)));
  });
}

}  // namespace
}  // namespace tcprepro
