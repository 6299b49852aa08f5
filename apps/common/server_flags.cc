#include "apps/common/server_flags.h"

#include <iostream>

namespace duet::app {

void addServerFlags(CLI::App& app, ServerFlags& f) {
  app.add_option("--backend", f.backend,
                 "I/O backend: " + backendFlagChoices() +
                     " (auto: uring where a ring can be set up, else epoll)")
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--api",
         [&f](const std::string& name) {
           f.api = parseApiStyle(name).value_or(ApiStyle::Callbacks);
         },
         "application API the connections run on: callbacks|coroutines")
      ->check(CLI::IsMember({"callbacks", "coroutines"}))
      ->default_str("callbacks");
  app.add_option("--host", f.host, "address to listen on")->capture_default_str();
  app.add_option("--port", f.port, "port to listen on (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--threads", f.threads, "I/O threads (0: one loop does everything)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--accept", f.accept, "with --threads: main (one acceptor hands out) or reuseport")
      ->capture_default_str();
  app.add_flag("--stats", f.stats, "print every loop's counters at exit");
  app.add_option("--log-level", f.logLevel, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--cpu", f.cpu, "pin the process to this CPU (benchmarks)");
  app.add_option("--idle-timeout", f.idleTimeoutSeconds,
                 "close connections idle this many seconds (0: never)");
  app.add_option("--max-connections", f.maxConnections,
                 "refuse connections beyond this many (0: no limit)");
  app.add_option("--max-output-bytes", f.maxOutputBytes,
                 "close a connection whose unsent output exceeds this many bytes (a peer that "
                 "never reads; 0: no cap)")
      ->capture_default_str();
  app.add_option("--drain-timeout", f.drainSeconds,
                 "seconds a graceful stop waits for output to drain")
      ->capture_default_str();
  app.add_flag("--edge-triggered", f.edgeTriggered,
               "epoll: edge-triggered instead of level-triggered");
  app.add_option("--taskrun", f.taskRun, "uring: auto|defer|coop|plain")->capture_default_str();
  app.add_option("--wakeup", f.wakeup, "uring: cross-thread wake-ups by eventfd|msgring")
      ->capture_default_str();
  app.add_option("--buffers", f.buffers, "uring: provided buffers per loop (power of two)")
      ->capture_default_str();
  app.add_option("--buffer-size", f.bufferSize, "uring: bytes per provided buffer")
      ->capture_default_str();
  app.add_option("--send-zc", f.sendZeroCopy,
                 "uring: SEND_ZC for sends of at least this many bytes (0: off)");
  app.add_flag("--sqpoll", f.sqpoll, "uring: kernel submission polling thread (burns a core)");
  app.add_option("--wait-batch", f.waitBatch, "uring: completions to wait for per io_uring_enter")
      ->capture_default_str();
  app.add_option("--wait-timeout-us", f.waitTimeoutMicros,
                 "uring: ...or at most this many microseconds");
  app.add_flag("--single-shot-recv", f.singleShotRecv,
               "uring: one recv per read instead of multishot");
  app.add_option("--msgring-handoff", f.msgRingHandoff,
                 "uring, --threads N, main acceptor: hand accepted sockets to I/O loops by "
                 "MSG_RING (on|off)")
      ->transform(CLI::IsMember({"on", "off"}))
      ->default_str(f.msgRingHandoff ? "on" : "off");
  app.add_option("--gather-writes", f.gatherWrites,
                 "reactor: write the output of one read handler with one system call (on|off)")
      ->transform(CLI::IsMember({"on", "off"}))
      ->default_str(f.gatherWrites ? "on" : "off");
  // --help shows each switch's default as "=on|off|auto", read from LoopOptions
  // itself (duet-compare reads it there to know which way a variant flips).
  const LoopOptions defaults;
  const auto onOff = [](bool on) { return std::string(on ? "on" : "off"); };
  const auto feature = [](KernelFeature k) {
    return std::string(k == KernelFeature::On ? "on" : k == KernelFeature::Off ? "off" : "auto");
  };
  app.add_option("--recv-bundle", f.recvBundle, "uring: recv bundles, on|off|auto (Linux 6.10)")
      ->default_str(feature(defaults.uring.recvBundle));
  app.add_option("--buffer-ring-inc", f.incrementalBuffers,
                 "uring: incrementally consumed provided buffers, on|off|auto (Linux 6.12)")
      ->default_str(feature(defaults.uring.incrementalBuffers));
  app.add_option("--adaptive-recv", f.adaptiveRecv,
                 "uring: receive straight into the input Buffer during bursts, on|off")
      ->default_str(onOff(defaults.uring.adaptiveRecv));
  app.add_option("--vectored-send", f.vectoredSend,
                 "uring on|off: output queued behind a send goes out uncopied in one vectored send")
      ->default_str(onOff(defaults.uring.vectoredSend));
  app.add_option("--register-ring-fd", f.registerRingFd,
                 "uring on|off: io_uring_enter by registered ring index (Linux 5.18)")
      ->default_str(onOff(defaults.uring.registerRingFd));
  app.add_option("--no-iowait", f.noIowait,
                 "uring on|off|auto: waits do not count as iowait (Linux 6.15; auto: where the "
                 "kernel has it)")
      ->default_str(feature(defaults.uring.noIowait));
  app.add_option("--direct-fds", f.directDescriptors,
                 "uring on|off|auto: accepted sockets live only in the ring's fixed-file table, no "
                 "descriptor "
                 "(Linux 6.0; not with --threads and --accept main)")
      ->default_str(feature(defaults.uring.directDescriptors));
}

int parseOrExit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  return -1;
}

namespace {

// "on" | "off" | "auto" for a KernelFeature switch; empty keeps the default.
bool parseKernelFeature(const char* flag, const std::string& value, KernelFeature* out,
                        std::string* error) {
  if (value.empty()) return true;
  if (value == "on") *out = KernelFeature::On;
  else if (value == "off") *out = KernelFeature::Off;
  else if (value == "auto") *out = KernelFeature::Auto;
  else {
    *error = std::string("unknown ") + flag + " '" + value + "' (choose on|off|auto)";
    return false;
  }
  return true;
}

bool parseOnOff(const char* flag, const std::string& value, bool* out, std::string* error) {
  if (value.empty()) return true;
  if (value == "on") *out = true;
  else if (value == "off") *out = false;
  else {
    *error = std::string("unknown ") + flag + " '" + value + "' (choose on|off)";
    return false;
  }
  return true;
}

}  // namespace

bool toOptions(const ServerFlags& f, LoopOptions* loop, ServerOptions* server, std::string* error,
               std::string* backendAnnouncement) {
  std::string announcement;
  const auto backend = resolveBackend(f.backend, &announcement);
  if (!backend) {
    *error = "unknown backend '" + f.backend + "' (choose " + backendFlagChoices() + ")";
    return false;
  }
  if (backendAnnouncement) *backendAnnouncement = announcement;
  loop->backend = *backend;
  loop->reactor.edgeTriggered = f.edgeTriggered;
  loop->reactor.gatherWrites = f.gatherWrites;
  if (f.taskRun == "auto") loop->uring.taskRun = UringTaskRun::Auto;
  else if (f.taskRun == "defer") loop->uring.taskRun = UringTaskRun::Defer;
  else if (f.taskRun == "coop") loop->uring.taskRun = UringTaskRun::Coop;
  else if (f.taskRun == "plain") loop->uring.taskRun = UringTaskRun::Plain;
  else {
    *error = "unknown --taskrun '" + f.taskRun + "' (choose auto|defer|coop|plain)";
    return false;
  }
  if (f.wakeup == "eventfd") loop->uring.wakeup = UringWakeup::EventFd;
  else if (f.wakeup == "msgring") loop->uring.wakeup = UringWakeup::MsgRing;
  else {
    *error = "unknown --wakeup '" + f.wakeup + "' (choose eventfd|msgring)";
    return false;
  }
  if (f.buffers == 0 || (f.buffers & (f.buffers - 1)) != 0 || f.buffers > 32768) {
    *error = "--buffers must be a power of two from 1 to 32768";
    return false;
  }
  loop->uring.bufferCount = f.buffers;
  loop->uring.bufferSize = f.bufferSize;
  loop->uring.sendZeroCopyThreshold = f.sendZeroCopy;
  loop->uring.sqpoll = f.sqpoll;
  loop->uring.waitBatch = f.waitBatch == 0 ? 1 : f.waitBatch;
  loop->uring.waitBatchTimeout = std::chrono::microseconds(f.waitTimeoutMicros);
  loop->uring.multishotRecv = !f.singleShotRecv;
  loop->uring.msgRingHandoff = f.msgRingHandoff;
  if (!parseKernelFeature("--recv-bundle", f.recvBundle, &loop->uring.recvBundle, error))
    return false;
  if (!parseKernelFeature("--buffer-ring-inc", f.incrementalBuffers,
                          &loop->uring.incrementalBuffers, error))
    return false;
  if (!parseOnOff("--adaptive-recv", f.adaptiveRecv, &loop->uring.adaptiveRecv, error))
    return false;
  if (!parseOnOff("--vectored-send", f.vectoredSend, &loop->uring.vectoredSend, error))
    return false;
  if (!parseOnOff("--register-ring-fd", f.registerRingFd, &loop->uring.registerRingFd, error))
    return false;
  if (!parseKernelFeature("--no-iowait", f.noIowait, &loop->uring.noIowait, error)) return false;
  if (!parseKernelFeature("--direct-fds", f.directDescriptors, &loop->uring.directDescriptors,
                          error))
    return false;

  std::string addrError;
  const auto addr = InetAddress::parse(f.host + ":" + std::to_string(f.port), &addrError);
  if (!addr) {
    *error = "bad --host: " + addrError;
    return false;
  }
  const auto mode = parseAcceptMode(f.accept);
  if (!mode) {
    *error = "unknown --accept '" + f.accept + "' (choose main|reuseport)";
    return false;
  }
  server->listen = *addr;
  server->ioThreads = f.threads;
  server->acceptMode = *mode;
  server->idleTimeout =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(f.idleTimeoutSeconds));
  server->maxConnections = f.maxConnections;
  server->maxOutputBytes = f.maxOutputBytes;
  server->drainTimeout =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(f.drainSeconds));
  return true;
}

}  // namespace duet::app
