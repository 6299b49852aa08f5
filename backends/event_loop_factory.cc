// makeEventLoop(): the one place that names every backend. core/ declares it;
// apps and tests call it; nothing else includes a backend header.
#include "core/event_loop.h"
#include "reactor/reactor_loop.h"
#if DUET_WITH_URING
#include "proactor/uring_loop.h"
#endif

namespace duet {

std::unique_ptr<EventLoop> makeEventLoop(const LoopOptions& options) {
  if (isReactorBackend(options.backend)) return std::make_unique<ReactorLoop>(options);
#if DUET_WITH_URING
  return std::make_unique<UringLoop>(options);
#else
  // Configured with -DDUET_WITH_URING=OFF (or without liburing): the same one
  // line a kernel that refuses io_uring gets, so --backend auto falls back too.
  throw BackendUnavailable(
      "io_uring is unavailable: this duet was built without liburing (DUET_WITH_URING=OFF); run "
      "with --backend epoll");
#endif
}

}  // namespace duet
