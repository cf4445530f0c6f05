// Packet capture of one namespace into a pcap file, with libpcap, in-process.
//
// The constructor returns only once the capture socket is bound in the
// namespace (on the "any" device: every interface there, including ones made
// later), so nothing the story sends afterwards is missed. Stop() — or the
// destructor — drains what the kernel has queued and closes the file. Being
// in-process, a killed run leaves no capture process behind.
#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>

#include "netns/namespace.h"

namespace tcprepro {

class PacketCapture {
 public:
  // `filter` is a pcap-filter(7) expression, e.g. "tcp".
  PacketCapture(const NetNamespace& ns, std::filesystem::path file, const std::string& filter = "tcp");
  ~PacketCapture();
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  // Drains queued packets and closes the file; idempotent.
  void Stop();

  const std::filesystem::path& file() const { return file_; }
  const std::string& namespace_label() const { return label_; }
  // Packets written so far (complete after Stop()).
  uint64_t packets() const { return packets_.load(); }
  // Packets the kernel matched but could not queue to the capture (ring
  // full: libpcap's ps_drop), read at Stop(). Not zero: the file lacks them.
  uint64_t dropped() const { return dropped_.load(); }

 private:
  void Loop();
  void DrainQueued();

  std::filesystem::path file_;
  std::string label_;
  pcap_t* handle_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> packets_{0}, dropped_{0};
  std::thread reader_;
};

}  // namespace tcprepro
