// makeEventLoop(): the one place that names every backend. core/ declares it;
// apps and tests call it; nothing else includes a backend header.
#include "core/event_loop.h"
#include "proactor/uring_loop.h"
#include "reactor/reactor_loop.h"

namespace duet {

std::unique_ptr<EventLoop> makeEventLoop(const LoopOptions& options) {
  if (isReactorBackend(options.backend)) return std::make_unique<ReactorLoop>(options);
  return std::make_unique<UringLoop>(options);
}

}  // namespace duet
