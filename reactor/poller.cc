#include "reactor/poller.h"

#include <stdexcept>
#include <string>

#include "core/backend.h"
#include "reactor/epoll_poller.h"
#include "reactor/poll_poller.h"
#include "reactor/select_poller.h"

namespace duet {

std::unique_ptr<Poller> makePoller(const LoopOptions& options, LoopStats& stats) {
  switch (options.backend) {
    case Backend::Epoll:
      return std::make_unique<EpollPoller>(stats);
    case Backend::Poll:
      return std::make_unique<PollPoller>(stats);
    case Backend::Select:
      return std::make_unique<SelectPoller>(stats);
    case Backend::IoUring:
      break;
  }
  throw std::invalid_argument("the reactor cannot run backend '" + std::string(backendName(options.backend)) +
                              "'; use epoll, poll or select");
}

}  // namespace duet
