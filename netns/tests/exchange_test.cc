// Tests of the packet-flow analysis (incarnations, relative numbers) and of
// the ladder data the two-host lab writes beside each capture.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "netns/exchange.h"
#include "netns/impairment.h"
#include "netns/lab.h"
#include "netns/pcap_reader.h"

namespace tcprepro {
namespace {

TcpSegment Seg(double t, const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
               uint8_t flags, uint32_t seq, uint32_t ack = 0) {
  TcpSegment s;
  s.time = t, s.src = src, s.sport = sport, s.dst = dst, s.dport = dport, s.flags = flags, s.seq = seq, s.ack = ack;
  return s;
}

TEST(Flow, ANewSynStartsTheNextIncarnationAndNumbersAreRelativeToItsIsns) {
  std::vector<TcpSegment> s = {
      Seg(0, "10.0.0.1", 40000, "10.0.0.2", 5000, kTcpSyn, 1000),
      Seg(0, "10.0.0.2", 5000, "10.0.0.1", 40000, kTcpRst | kTcpAck, 0, 1001),  // refused: no server ISN yet
      Seg(1, "10.0.0.1", 40000, "10.0.0.2", 5000, kTcpSyn, 1000),              // retransmission
      Seg(1, "10.0.0.2", 5000, "10.0.0.1", 40000, kTcpSyn | kTcpAck, 7000, 1001),
      Seg(1, "10.0.0.1", 40000, "10.0.0.2", 5000, kTcpAck, 1001, 7001),
      Seg(2, "10.0.0.1", 40000, "10.0.0.2", 5000, kTcpSyn, 90000),  // the 4-tuple reused
      Seg(2, "10.0.0.2", 5000, "10.0.0.1", 40000, kTcpRst, 7001),   // a stale RST of the first one
  };
  NumberIncarnations(s);
  EXPECT_EQ(s[0].incarnation, 1);
  EXPECT_EQ(s[1].relative_seq, std::nullopt);
  EXPECT_EQ(s[1].relative_ack, 1);
  EXPECT_EQ(s[2].incarnation, 1);
  EXPECT_EQ(s[3].relative_seq, 0);
  EXPECT_EQ(s[4].relative_seq, 1);
  EXPECT_EQ(s[4].relative_ack, 1);
  EXPECT_EQ(s[5].incarnation, 2);
  EXPECT_EQ(s[5].relative_seq, 0);
  EXPECT_EQ(s[6].incarnation, 2);
  EXPECT_EQ(s[6].relative_seq, std::nullopt);  // the server's ISN of incarnation 2 is not on the wire yet
  EXPECT_EQ(s[6].relative_ack, std::nullopt);  // no ACK flag
}

TEST(Flow, ASelfConnectionHasOneDirection) {
  std::vector<TcpSegment> s = {Seg(0, "127.0.0.1", 40008, "127.0.0.1", 40008, kTcpSyn, 500),
                               Seg(0, "127.0.0.1", 40008, "127.0.0.1", 40008, kTcpSyn | kTcpAck, 500, 501)};
  NumberIncarnations(s);
  EXPECT_EQ(s[1].incarnation, 1);
  EXPECT_EQ(s[1].relative_seq, 0);
  EXPECT_EQ(s[1].relative_ack, 1);
}

ExchangeInput Input(const std::string& ns) {
  return {"client.pcap", ns, 100.0, {"client", "server"},
          [](const std::string& ip, uint16_t) { return ip == "10.0.0.1" ? "client" : "server"; }};
}

TEST(Exchange, MarksComeFromTheLabsRecordsAndMatchTheRightCopy) {
  const auto ack = Seg(101, "10.0.0.1", 40000, "10.0.0.2", 5000, kTcpAck, 1001, 7001);
  std::vector<TcpSegment> captured = {Seg(100.5, "10.0.0.2", 5000, "10.0.0.1", 40000, kTcpRst, 7001), ack};
  captured.back().time = 103;  // an identical ACK, sent later by the kernel itself
  std::vector<MarkedPacket> marks = {
      {ack, "dropped", "dropped by a rule", "client", Captured::kNowhere},  // dropped at 101: never captured
      {Seg(100.2, "10.0.0.2", 5000, "10.0.0.1", 40000, kTcpRst, 7001), "held", "held by a rule", "server",
       Captured::kLater},
  };
  const auto doc = ExchangeDocument(Input("client"), captured, marks);
  ASSERT_EQ(doc["segments"].size(), 3u);
  EXPECT_EQ(doc["schema"], "tcprepro-exchange/1");
  EXPECT_EQ(doc["segments"][0]["mark"], "held");
  EXPECT_EQ(doc["segments"][0]["from"], "server");
  EXPECT_DOUBLE_EQ(doc["segments"][0]["t"].get<double>(), 0.5);
  EXPECT_EQ(doc["segments"][1]["mark"], "dropped");  // inserted where it was dropped
  EXPECT_EQ(doc["segments"][2]["mark"], nullptr);     // the later identical ACK is not the dropped one
  EXPECT_EQ(doc["lanes"][0]["name"], "client");
  EXPECT_EQ(doc["lanes"][0]["endpoints"][0], "10.0.0.1:40000");
  // Another namespace's capture does not get the packet dropped elsewhere.
  EXPECT_EQ(ExchangeDocument(Input("server"), captured, marks)["segments"].size(), 2u);
}

TEST(TwoHostLab, WritesLadderDataBesideEachCaptureWithLanesAndCraftedMarks) {
  const auto dir = std::filesystem::temp_directory_path() / ("tcprepro-exchange-test-" + std::to_string(::getpid()));
  {
    TwoHostLab lab({Family::kIpv4, Link::kVeth}, dir);
    UniqueFd listener = lab.Listen(5000);
    UniqueFd client = lab.Connect(5000, 5000);
    UniqueFd server = Accept(listener.get(), 5000);
    ASSERT_TRUE(Echo(client.get(), server.get()));
    lab.Craft(lab.server(), {lab.ServerAt(5000), LocalEndpoint(client.get()), 1, 0, kTcpRst, 0, std::nullopt,
                             std::nullopt});
    lab.StopCaptures("a test");
  }
  for (const std::string name : {"client", "server"}) {
    std::ifstream in(dir / (name + ".exchange.json"));
    ASSERT_TRUE(in) << name;
    const auto doc = nlohmann::json::parse(in);
    EXPECT_EQ(doc["capture"], name + ".pcap");
    ASSERT_EQ(doc["lanes"].size(), 2u);
    EXPECT_EQ(doc["lanes"][1]["endpoints"][0], "10.210.0.2:5000");
    EXPECT_EQ(doc["segments"][0]["flags"], "S");
    EXPECT_EQ(doc["segments"][0]["seq"], 0);
    EXPECT_EQ(doc["segments"].back()["mark"], "crafted") << name;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tcprepro
