#include "tests/support/test_backends.h"

#include <mutex>

#include "core/backend.h"
#include "core/event_loop.h"

namespace duet::test {

const std::vector<BackendConfig>& testBackends() {
  static const std::vector<BackendConfig> configs = [] {
    std::vector<BackendConfig> out;
    for (Backend b : allBackends()) {
      LoopOptions o;
      o.backend = b;
      out.push_back({std::string(backendName(b)), o});
      if (b == Backend::Epoll) {
        LoopOptions et = o;
        et.reactor.edgeTriggered = true;
        out.push_back({"epoll_et", et});
        // Every send() written on its own, as before gathering. One reactor
        // config is enough: the gathering code is the same whichever poller
        // reports readiness.
        LoopOptions noGather = o;
        noGather.reactor.gatherWrites = false;
        out.push_back({"epoll_nogather", noGather});
      }
      if (b == Backend::IoUring) {
        // Each io_uring switch flipped from its default, one at a time.
        LoopOptions handoff = o;
        handoff.uring.msgRingHandoff = !handoff.uring.msgRingHandoff;
        out.push_back(
            {handoff.uring.msgRingHandoff ? "uring_handoff" : "uring_nohandoff", handoff});
        // A kernel feature switched on is demanded (On), so a kernel without
        // it makes the configuration skip with the reason.
        const auto flipped = [](KernelFeature f) {
          return f == KernelFeature::Off ? KernelFeature::On : KernelFeature::Off;
        };
        LoopOptions bundle = o;
        bundle.uring.recvBundle = flipped(o.uring.recvBundle);
        out.push_back(
            {bundle.uring.recvBundle == KernelFeature::On ? "uring_bundle" : "uring_nobundle",
             bundle});
        LoopOptions inc = o;
        inc.uring.incrementalBuffers = flipped(o.uring.incrementalBuffers);
        out.push_back(
            {inc.uring.incrementalBuffers == KernelFeature::On ? "uring_inc" : "uring_noinc", inc});
        LoopOptions adaptive = o;
        adaptive.uring.adaptiveRecv = !o.uring.adaptiveRecv;
        out.push_back(
            {adaptive.uring.adaptiveRecv ? "uring_adaptive" : "uring_noadaptive", adaptive});
        LoopOptions vectored = o;
        vectored.uring.vectoredSend = !o.uring.vectoredSend;
        out.push_back(
            {vectored.uring.vectoredSend ? "uring_vectored" : "uring_novectored", vectored});
        LoopOptions regring = o;
        regring.uring.registerRingFd = !o.uring.registerRingFd;
        out.push_back(
            {regring.uring.registerRingFd ? "uring_regring" : "uring_noregring", regring});
        LoopOptions iowait = o;
        iowait.uring.noIowait =
            flipped(o.uring.noIowait);  // Auto (on where the kernel has it) flips to Off
        out.push_back(
            {iowait.uring.noIowait == KernelFeature::On ? "uring_noiowait" : "uring_iowait",
             iowait});
        LoopOptions direct = o;
        direct.uring.directDescriptors = flipped(o.uring.directDescriptors);
        out.push_back({direct.uring.directDescriptors == KernelFeature::On ? "uring_direct"
                                                                           : "uring_nodirect",
                       direct});
      }
    }
    return out;
  }();
  return configs;
}

const std::vector<ThreadingModel>& testThreadingModels() {
  static const std::vector<ThreadingModel> models = {
      {"single", 0, AcceptMode::MainLoop},
      {"main2", 2, AcceptMode::MainLoop},
      {"reuseport2", 2, AcceptMode::ReusePort},
  };
  return models;
}

int connectionBudget(const BackendConfig& backend, int wanted) {
  // The loop knows its backend's limit (select: FD_SETSIZE); a backend that
  // cannot run here has none to respect (its tests skip).
  std::optional<int> limit;
  try {
    limit = makeEventLoop(backend.loop)->descriptorLimit();
  } catch (const BackendUnavailable&) {
  }
  if (limit) {
    // Two descriptors per connection (client and server end) plus headroom for
    // the test's own files, all below the limit.
    const int budget = (*limit - 64) / 2;
    return wanted < budget ? wanted : budget;
  }
  return wanted;
}

std::optional<std::string> unavailableReason(const BackendConfig& backend) {
  static std::mutex mutex;
  static std::vector<std::pair<std::string, std::string>> verdicts;  // name -> "" or reason
  std::lock_guard lock(mutex);
  for (const auto& [name, why] : verdicts) {
    if (name == backend.name) return why.empty() ? std::nullopt : std::optional<std::string>(why);
  }
  std::string reason;
  try {
    makeEventLoop(backend.loop);
  } catch (const BackendUnavailable& e) {
    reason = e.what();
  }
  verdicts.emplace_back(backend.name, reason);
  return reason.empty() ? std::nullopt : std::optional<std::string>(reason);
}

std::optional<std::string> modelRefusal(const BackendConfig& backend, const ThreadingModel& model) {
  if (model.ioThreads == 0 || model.acceptMode != AcceptMode::MainLoop) return std::nullopt;
  static std::mutex mutex;
  static std::vector<std::pair<std::string, std::string>> verdicts;  // name -> "" or refusal
  std::lock_guard lock(mutex);
  for (const auto& [name, why] : verdicts) {
    if (name == backend.name) return why.empty() ? std::nullopt : std::optional<std::string>(why);
  }
  std::string refusal;
  try {
    refusal = makeEventLoop(backend.loop)->handOffRefusal();
  } catch (const BackendUnavailable&) {
    // unavailableReason() reports it
  }
  verdicts.emplace_back(backend.name, refusal);
  return refusal.empty() ? std::nullopt : std::optional<std::string>(refusal);
}

std::string backendParamName(const testing::TestParamInfo<BackendConfig>& info) {
  return info.param.name;
}

}  // namespace duet::test
