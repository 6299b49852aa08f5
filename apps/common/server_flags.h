// Command-line flags shared by duet's servers (duet-echo, duet-http): backend,
// threads, accept mode, loop knobs, limits. One place, so every program spells
// them the same way and rejects bad values with the same one-line message.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "apps/common/api_style.h"
#include "core/loop_options.h"
#include "core/tcp_server.h"

namespace duet::app {

struct ServerFlags {
  std::string backend = "auto";        // see backendFlagChoices()
  ApiStyle api = ApiStyle::Callbacks;  // --api callbacks|coroutines
  std::string host = "0.0.0.0";
  int port = 0;
  int threads = 0;
  std::string accept = "main";
  bool stats = false;
  std::string logLevel = "info";
  int cpu = -1;
  double idleTimeoutSeconds = 0;
  std::size_t maxConnections = 0;
  std::size_t maxOutputBytes = 64 * 1024 * 1024;  // per connection; 0 = no cap
  double drainSeconds = 5;
  bool edgeTriggered = false;
  std::string taskRun = "auto";
  std::string wakeup = "eventfd";
  unsigned buffers = LoopOptions{}.uring.bufferCount;
  unsigned bufferSize = LoopOptions{}.uring.bufferSize;
  std::size_t sendZeroCopy = 0;
  bool sqpoll = false;
  unsigned waitBatch = 1;
  unsigned waitTimeoutMicros = 0;
  bool singleShotRecv = false;
  bool msgRingHandoff = LoopOptions{}.uring.msgRingHandoff;
  bool gatherWrites = LoopOptions{}.reactor.gatherWrites;
  std::string recvBundle;          // on|off|auto; empty: LoopOptions' default
  std::string incrementalBuffers;  // on|off|auto; empty: LoopOptions' default
  std::string adaptiveRecv;        // on|off; empty: LoopOptions' default
  std::string vectoredSend;        // on|off; empty: LoopOptions' default
  std::string registerRingFd;      // on|off; empty: LoopOptions' default
  std::string noIowait;            // on|off|auto; empty: LoopOptions' default
  std::string directDescriptors;   // on|off|auto; empty: LoopOptions' default
};

// Registers the flags on `app`.
void addServerFlags(CLI::App& app, ServerFlags& flags);

// Parses argv. On a bad flag prints "PROGRAM: <what is wrong>" and returns 2;
// for --help prints usage and returns 0; returns -1 to mean "go on".
int parseOrExit(CLI::App& app, int argc, char** argv);

// Turns the flags into options. Returns false with a one-line *error on a bad value.
// --backend auto is resolved here (resolveBackend); its one line, "backend: uring
// (auto: io_uring set up)", goes to *backendAnnouncement if given ("" otherwise).
bool toOptions(const ServerFlags& flags, LoopOptions* loop, ServerOptions* server,
               std::string* error, std::string* backendAnnouncement = nullptr);

}  // namespace duet::app
