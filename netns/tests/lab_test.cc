// Tests of the lab itself: it refuses the host's namespace, what it makes is
// really in its namespaces, and nothing is left behind after a normal end, an
// exception, or a SIGKILL.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "netns/capture.h"
#include "netns/command.h"
#include "netns/counters.h"
#include "netns/error.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/netlink.h"
#include "netns/pcap_reader.h"
#include "netns/socket.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

// Every network namespace some task or open fd on this machine still refers
// to, as "net:[inode]" strings. A namespace nobody refers to has been freed.
std::set<std::string> ReferencedNamespaces() {
  std::set<std::string> refs;
  auto add_link = [&](const std::filesystem::path& p) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(p, ec).string();
    if (!ec && target.rfind("net:[", 0) == 0) refs.insert(target);
  };
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    if (!std::isdigit(proc.path().filename().string()[0])) continue;
    for (const auto& task : std::filesystem::directory_iterator(proc.path() / "task", ec)) {
      add_link(task.path() / "ns" / "net");
    }
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", ec)) add_link(fd.path());
  }
  return refs;
}

std::string NsRef(ino_t inode) { return "net:[" + std::to_string(inode) + "]"; }

std::string HostLinks() {
  const auto ns = NetNamespace::OfCurrentThread("host");
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net")) {
    names.insert(entry.path().filename());
  }
  std::string joined;
  for (const auto& n : names) joined += n + " ";
  return joined;
}

std::string HostSysctl(const std::string& key) {
  return ReadSysctl(NetNamespace::OfCurrentThread("host"), key).value_or("<absent>");
}

// Builds one of everything the lab makes, runs `then` with the namespaces'
// inodes while it all exists, and returns those inodes.
using Inodes = std::vector<ino_t>;
Inodes BuildEverything(const std::filesystem::path& dir, const std::function<void(const Inodes&)>& then) {
  NetNamespace a = NetNamespace::Create("a");
  NetNamespace b = NetNamespace::Create("b");
  VethPair veth({&a, "va", {"10.9.0.1/24", "fd00:9::1/64"}}, {&b, "vb", {"10.9.0.2/24", "fd00:9::2/64"}});
  SysctlGuard range(a, "net.ipv4.ip_local_port_range", "40000 40009");
  std::filesystem::create_directories(dir);
  PacketCapture capture(a, dir / "a.pcap");
  const Inodes inodes = {a.inode(), b.inode()};
  then(inodes);
  return inodes;
}

class Lab : public ::testing::Test {
 protected:
  std::filesystem::path dir_ = std::filesystem::temp_directory_path() /
                               ("tcprepro-lab-test-" + std::to_string(::getpid()));
  void TearDown() override { std::filesystem::remove_all(dir_); }
};

TEST_F(Lab, RefusesToChangeTheHostNamespace) {
  const NetNamespace host = NetNamespace::OfCurrentThread("host");
  ASSERT_TRUE(host.is_host());
  const std::string before = HostSysctl("net.ipv4.ip_local_port_range");
  EXPECT_THROW(SysctlGuard(host, "net.ipv4.ip_local_port_range", "40000 40001"), LabError);
  EXPECT_THROW(RunIn(host, {"ip", "link", "add", "tcprepro0", "type", "dummy"}), LabError);
  const NetNamespace lab = NetNamespace::Create("lab");
  EXPECT_THROW(VethPair({&host, "tcprepro0", {}}, {&lab, "tcprepro1", {}}), LabError);
  EXPECT_EQ(HostSysctl("net.ipv4.ip_local_port_range"), before);
  EXPECT_EQ(HostLinks().find("tcprepro"), std::string::npos);
}

TEST_F(Lab, SysctlIsWrittenInTheLabNamespaceOnlyAndRestored) {
  const std::string host_before = HostSysctl("net.ipv4.ip_local_port_range");
  const NetNamespace ns = NetNamespace::Create("lab");
  const std::string lab_before = ReadSysctl(ns, "net.ipv4.ip_local_port_range").value();
  {
    SysctlGuard guard(ns, "net.ipv4.ip_local_port_range", "41000   41009");
    EXPECT_EQ(guard.effective(), "41000 41009");
    EXPECT_EQ(ReadSysctl(ns, "net.ipv4.ip_local_port_range"), "41000 41009");
    EXPECT_EQ(HostSysctl("net.ipv4.ip_local_port_range"), host_before);
  }
  EXPECT_EQ(ReadSysctl(ns, "net.ipv4.ip_local_port_range"), lab_before);
}

TEST_F(Lab, MissingSysctlIsUnsupportedNotAnError) {
  const NetNamespace ns = NetNamespace::Create("lab");
  EXPECT_EQ(ReadSysctl(ns, "net.ipv4.tcp_no_such_knob"), std::nullopt);
  try {
    SysctlGuard guard(ns, "net.ipv4.tcp_no_such_knob", "1");
    FAIL() << "a missing knob was written";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("tcp_no_such_knob"), std::string::npos);
  }
}

TEST_F(Lab, VethEndsAreBornInTheirNamespaces) {
  const std::string host_links = HostLinks();
  NetNamespace a = NetNamespace::Create("a");
  NetNamespace b = NetNamespace::Create("b");
  VethPair veth({&a, "va", {"10.9.0.1/24"}}, {&b, "vb", {"10.9.0.2/24"}});
  EXPECT_NE(CheckedRunIn(a, {"ip", "-o", "link", "show", "va"}).find("UP"), std::string::npos);
  EXPECT_EQ(RunIn(a, {"ip", "link", "show", "vb"}).exit_status, 1);
  EXPECT_NE(CheckedRunIn(b, {"ip", "-o", "address", "show", "vb"}).find("10.9.0.2/24"), std::string::npos);
  EXPECT_EQ(HostLinks(), host_links);
  // Across the pair: a connect from a to b reaches b's stack (RST: nobody listens).
  NamespaceGuard inside(a);
  UniqueFd fd = TcpSocket(Family::kIpv4);
  SetIoTimeout(fd.get(), 2000);
  EXPECT_EQ(ErrnoName(ConnectErrno(fd.get(), {"10.9.0.2", 9})), "ECONNREFUSED");
}

// Readiness is the constructor's: no story may find a link without carrier, an
// IPv6 address still tentative, or its local route missing (then a connect to
// the namespace's own address left through the veth instead of looping back).
TEST_F(Lab, VethIsUsableWhenConstructed) {
  for (int round = 0; round < 10; ++round) {
    NetNamespace a = NetNamespace::Create("a");
    NetNamespace b = NetNamespace::Create("b");
    VethPair veth({&a, "va", {"10.9.0.1/24", "fd00:9::1/64"}}, {&b, "vb", {"10.9.0.2/24", "fd00:9::2/64"}});
    {
      NamespaceGuard inside(a);
      for (const char* own : {"10.9.0.1", "fd00:9::1"}) {
        UniqueFd fd = TcpSocket(std::string(own).find(':') != std::string::npos ? Family::kIpv6 : Family::kIpv4);
        SetIoTimeout(fd.get(), 2000);
        EXPECT_EQ(ErrnoName(ConnectErrno(fd.get(), {own, 9})), "ECONNREFUSED") << own << ", round " << round;
      }
    }
    EXPECT_EQ(CheckedRunIn(a, {"ip", "-6", "address", "show", "tentative"}), "");
    EXPECT_NE(CheckedRunIn(a, {"ip", "route", "get", "fd00:9::1"}).find("local"), std::string::npos);
    EXPECT_NE(CheckedRunIn(b, {"ip", "-o", "link", "show", "vb"}).find("LOWER_UP"), std::string::npos);
  }
}

TEST_F(Lab, AwaitUsableNamesWhatIsMissing) {
  NetNamespace a = NetNamespace::Create("a");
  NetNamespace b = NetNamespace::Create("b");
  VethPair veth({&a, "va", {"10.9.0.1/24"}}, {&b, "vb", {"10.9.0.2/24"}});
  RouteSocket in_a(a);
  auto failure = [&](const std::vector<std::string>& cidrs) -> std::string {
    try {
      in_a.AwaitUsable("va", cidrs, std::chrono::milliseconds(100));
    } catch (const LabError& e) {
      return e.what();
    }
    return "usable";
  };
  EXPECT_EQ(failure({"10.9.0.1/24"}), "usable");
  EXPECT_NE(failure({"10.9.9.9/24"}).find("address 10.9.9.9/24 missing"), std::string::npos);
  CheckedRunIn(b, {"ip", "link", "set", "vb", "down"});
  EXPECT_NE(failure({"10.9.0.1/24"}).find("link not operationally up"), std::string::npos);
}

TEST_F(Lab, CaptureAndCountersSeeTheStory) {
  NetNamespace ns = NetNamespace::Create("lab");
  std::filesystem::create_directories(dir_);
  PacketCapture capture(ns, dir_ / "lab.pcap");
  const CounterSnapshot before = CounterSnapshot::Take(ns);
  {
    NamespaceGuard inside(ns);
    UniqueFd fd = TcpSocket(Family::kIpv6);
    ASSERT_EQ(ErrnoName(ConnectErrno(fd.get(), {"::1", 9})), "ECONNREFUSED");
  }
  const CounterSnapshot after = CounterSnapshot::Take(ns);
  capture.Stop();
  const auto segments = ReadTcpSegments(capture.file());
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[0].flag_string(), "S");
  EXPECT_EQ(segments[0].dport, 9);
  EXPECT_EQ(segments[0].dst, "::1");
  EXPECT_TRUE(segments[0].ts_val.has_value());
  EXPECT_EQ(segments[1].flag_string(), "R.");
  EXPECT_EQ(CounterDeltas(before, after, {"TcpActiveOpens", "TcpAttemptFails"}),
            (std::map<std::string, int64_t>{{"TcpActiveOpens", 1}, {"TcpAttemptFails", 1}}));
  EXPECT_THROW(after.get("TcpExtNoSuchCounter"), Unsupported);
}

TEST_F(Lab, UnreadableCaptureIsALabError) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "not.pcap") << "not a capture";
  EXPECT_THROW(ReadTcpSegments(dir_ / "not.pcap"), LabError);
}

TEST_F(Lab, NothingLeftAfterNormalEnd) {
  const std::string links = HostLinks();
  const auto inodes = BuildEverything(dir_, [](const Inodes&) {});
  const auto refs = ReferencedNamespaces();
  for (ino_t inode : inodes) EXPECT_EQ(refs.count(NsRef(inode)), 0u) << NsRef(inode);
  EXPECT_EQ(HostLinks(), links);
}

TEST_F(Lab, NothingLeftAfterAnException) {
  const std::string links = HostLinks();
  Inodes inodes;
  EXPECT_THROW(BuildEverything(dir_,
                               [&](const Inodes& built) {
                                 inodes = built;
                                 throw LabError("story failed half-way");
                               }),
               LabError);
  ASSERT_EQ(inodes.size(), 2u);
  const auto refs = ReferencedNamespaces();
  for (ino_t inode : inodes) EXPECT_EQ(refs.count(NsRef(inode)), 0u) << NsRef(inode) << " outlived the exception";
  EXPECT_EQ(HostLinks(), links);
}

TEST_F(Lab, NothingLeftAfterSigkill) {
  const std::string links = HostLinks();
  const std::string range = HostSysctl("net.ipv4.ip_local_port_range");
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The victim: builds everything, reports its namespaces, waits to be killed.
    BuildEverything(dir_, [&](const Inodes& built) {
      const std::string line = std::to_string(built[0]) + " " + std::to_string(built[1]) + "\n";
      (void)!::write(report[1], line.data(), line.size());
      for (;;) ::pause();
    });
    ::_exit(0);
  }
  ::close(report[1]);
  char buf[64] = {};
  ASSERT_GT(::read(report[0], buf, sizeof buf - 1), 0) << "the child did not build its lab";
  ::close(report[0]);
  std::set<std::string> child_namespaces;
  std::istringstream words(buf);
  for (ino_t inode; words >> inode;) child_namespaces.insert(NsRef(inode));
  ASSERT_EQ(child_namespaces.size(), 2u);
  // Alive, the child holds them (and its capture thread and tools run).
  // Sanity of the probe: while the child lives, its namespaces are visible.
  const auto alive = ReferencedNamespaces();
  for (const auto& ns : child_namespaces) ASSERT_EQ(alive.count(ns), 1u) << ns << " not visible while its owner lives";
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));

  const auto refs = ReferencedNamespaces();
  for (const auto& ns : child_namespaces) EXPECT_EQ(refs.count(ns), 0u) << ns << " outlived its owner";
  EXPECT_EQ(HostLinks(), links);
  EXPECT_EQ(HostSysctl("net.ipv4.ip_local_port_range"), range);
}

}  // namespace
}  // namespace tcprepro
