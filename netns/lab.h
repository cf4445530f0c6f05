// The lab every story runs in: two hosts, a link, the captures, the counters
// and the story's record.
//
//   loopback  one namespace ("host") is both client and server, over lo
//   veth      "client" and "server" namespaces joined by a veth pair (c0 - s0)
//   none      "client" and "server" namespaces with no link (sysctl probes)
//
// A variant is an IP family and a link; its name ("ipv4_loopback") is the
// GoogleTest parameter name. Each namespace with a link is captured from the
// moment the lab exists (`<label>.pcap` in the evidence folder). When the
// captures stop, the lab writes beside each pcap its ladder data,
// `<label>.exchange.json` (netns/exchange.h): lanes from the roles the lab
// knows (an address or port handed out by ServerAt() is the server's), marks
// from the lab's own record of what its impairments and crafted segments did.
//
// The lab owns what a story changes — sysctls, impairments, a cut — and
// releases it when it ends; its record (observations.json) is written last,
// so a story that throws half-way still leaves what it saw.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netns/capture.h"
#include "netns/counters.h"
#include "netns/exchange.h"
#include "netns/impairment.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/raw_tcp.h"
#include "netns/record.h"
#include "netns/socket.h"
#include "netns/sysctl.h"
#include "netns/unique_fd.h"

namespace tcprepro {

enum class Link { kLoopback, kVeth, kNone };
std::string LinkName(Link link);  // "loopback", "veth", "none"

struct Variant {
  Family family = Family::kIpv4;
  Link link = Link::kLoopback;
};
// "ipv4_loopback", "ipv6_veth": the test's parameter name.
std::string VariantName(const Variant& variant);
// GoogleTest (and CTest's test names) print the parameter with this.
void PrintTo(const Variant& variant, std::ostream* os);

class TwoHostLab {
 public:
  // `description` is recorded as the result's variant, beside family and link.
  TwoHostLab(const Variant& variant, const std::filesystem::path& evidence_dir,
             nlohmann::json description = nlohmann::json::object());
  ~TwoHostLab();
  TwoHostLab(const TwoHostLab&) = delete;
  TwoHostLab& operator=(const TwoHostLab&) = delete;

  // --- the topology
  Family family() const { return variant_.family; }
  Link link() const { return variant_.link; }
  const NetNamespace& client() const { return *client_; }
  const NetNamespace& server() const { return server_ ? *server_ : *client_; }
  // The interface each side sends on ("lo" on loopback).
  std::string client_link() const;
  std::string server_link() const;
  Endpoint ClientAt(uint16_t port) const { return {client_ip_, port}; }
  // The server's address; `port` becomes a service port (its segments are the server's).
  Endpoint ServerAt(uint16_t port);
  Endpoint Wildcard(uint16_t port) const { return {WildcardAddress(family()), port}; }

  // --- sockets in the roles' namespaces
  // A listener on ServerAt(port) in the server's namespace.
  UniqueFd Listen(uint16_t port, bool reuseaddr = true);
  // A connection from the client's namespace to ServerAt(port), after
  // `before_connect` set the socket's options; throws LabError if it fails.
  UniqueFd Connect(uint16_t port, int io_timeout_millis, const std::function<void(int)>& before_connect = {});

  // --- the record
  ScenarioRecord& record() { return *record_; }
  void Observe(const std::string& key, nlohmann::json value) { record_->Observe(key, std::move(value)); }
  // Writes a sysctl in `ns` for the rest of the story, notes it in the record,
  // returns what the kernel holds. Throws Unsupported for a knob this kernel lacks.
  std::string Sysctl(const NetNamespace& ns, const std::string& key, const std::string& value);
  // Records why the story cannot run here; returns the reason for GTEST_SKIP().
  const std::string& Skip(std::string reason) { return record_->Skip(std::move(reason)); }

  // --- counters (nstat names)
  static CounterSnapshot Counters(const NetNamespace& ns) { return CounterSnapshot::Take(ns); }
  // Observes "<prefix><name>_delta" for each name this kernel has, from `before` to now.
  void ObserveDeltas(const std::string& prefix, const NetNamespace& ns, const CounterSnapshot& before,
                     const std::vector<std::string>& names);

  // --- impairments and crafted segments, remembered for the ladders
  // Installs `rule` in `ns` until Lift() or the lab's end; the backend is noted in the record.
  Impairment& Impair(const NetNamespace& ns, const ImpairmentRule& rule);
  // Removes the rule now (what it still holds is delivered).
  void Lift(Impairment& impairment);
  // Sends a crafted segment from `ns` (netns/raw_tcp.h).
  void Craft(const NetNamespace& ns, const CraftedSegment& segment);

  // --- pulling the cable: every TCP packet of the family dropped at the
  // server's end of the veth, both directions (the client's capture still
  // shows what the client sent; what the server sends in the cut shows nowhere).
  // Returns what was done, for the record.
  std::string Cut();
  // Plugs it back: the server's egress rule goes first, so that an answer to
  // a segment let through meanwhile is not lost.
  void Restore();
  double cut_at() const { return cut_at_; }
  double restored_at() const { return restored_at_; }
  const Impairment* cut_to_client() const { return cut_to_client_; }
  uint64_t dropped_to_server() const;
  uint64_t dropped_to_client() const;

  // --- the captures
  // Stops the captures, adds them to the record ("the client's namespace: <what>"),
  // and writes each one's exchange.json. Idempotent; the lab's end does it too.
  void StopCaptures(const std::string& what);
  // The segments of the client's (server's) capture; stops the captures first.
  std::vector<TcpSegment> ClientSegments();
  std::vector<TcpSegment> ServerSegments();

  // When the story started, in seconds since the epoch.
  double story_started() const { return story_started_; }

 private:
  struct Held {
    std::unique_ptr<Impairment> impairment;
    std::string where;  // "nfqueue rule on s0 egress (...)"
    std::string namespace_label;
    Direction direction;
  };
  void Harvest(const Held& held);
  std::string LaneOf(const std::string& ip, uint16_t port) const;
  void WriteExchange(const PacketCapture& capture);

  Variant variant_;
  double story_started_;
  std::unique_ptr<ScenarioRecord> record_;
  std::unique_ptr<NetNamespace> client_, server_;
  std::unique_ptr<VethPair> veth_;
  std::string client_ip_, server_ip_;
  std::set<uint16_t> service_ports_;
  std::vector<std::unique_ptr<PacketCapture>> captures_;
  bool captures_stopped_ = false;
  std::vector<std::unique_ptr<SysctlGuard>> sysctls_;
  std::vector<Held> impairments_;
  std::vector<MarkedPacket> marks_;
  nlohmann::json rules_ = nlohmann::json::array();  // every impairment the story installed
  Impairment *cut_to_server_ = nullptr, *cut_to_client_ = nullptr;
  uint64_t dropped_to_server_ = 0, dropped_to_client_ = 0;
  double cut_at_ = 0, restored_at_ = 0;
};

}  // namespace tcprepro
