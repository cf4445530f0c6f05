// The proposed configuration (netns/configuration.h): applied in every namespace
// the lab makes, pins noted, suspended for the kernel's defaults, the host untouched.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "netns/configuration.h"
#include "netns/namespace.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

// Set before main(): the configuration is read once, at its first use.
const bool kConfigured = ::setenv("TCPREPRO_SYSCTLS",
                                  R"({"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_timestamps": "0"})", 1) == 0;

std::string HostValue(const std::string& key) { return ReadInCurrentNamespace(key).value_or("absent"); }

TEST(Configuration, AppliedInEveryNewNamespace) {
  ASSERT_TRUE(kConfigured);
  const std::string host_before = HostValue("net.ipv4.tcp_tw_reuse");
  ResetConfigurationRecord();
  const NetNamespace ns = NetNamespace::Create("configured");
  EXPECT_EQ(ReadSysctl(ns, "net.ipv4.tcp_tw_reuse"), "1");
  EXPECT_EQ(ReadSysctl(ns, "net.ipv4.tcp_timestamps"), "0");
  EXPECT_EQ(ConfigurationRecord()["applied_in"], nlohmann::json::array({"configured"}));
  EXPECT_EQ(HostValue("net.ipv4.tcp_tw_reuse"), host_before);
}

TEST(Configuration, AStoryThatSetsAProposedKnobPinsIt) {
  ResetConfigurationRecord();
  const NetNamespace ns = NetNamespace::Create("client");
  {
    SysctlGuard own(ns, "net.ipv4.tcp_tw_reuse", "0");
    SysctlGuard unrelated(ns, "net.ipv4.tcp_rfc1337", "1");
  }
  const nlohmann::json record = ConfigurationRecord();
  EXPECT_EQ(record["pinned"], nlohmann::json({{"net.ipv4.tcp_tw_reuse", "0"}}));
  EXPECT_EQ(record["pinned_in"]["net.ipv4.tcp_tw_reuse"], nlohmann::json::array({"client"}));
  EXPECT_EQ(record["proposed"]["net.ipv4.tcp_timestamps"], "0");
}

TEST(Configuration, SuspendedForTheKernelsDefaults) {
  ResetConfigurationRecord();
  const ConfigurationSuspended defaults_only;
  const NetNamespace ns = NetNamespace::Create("defaults");
  EXPECT_EQ(ReadSysctl(ns, "net.ipv4.tcp_timestamps"), "1");
  EXPECT_TRUE(ConfigurationRecord()["suspended"].get<bool>());
}

}  // namespace
}  // namespace tcprepro
