#include "reactor/channel.h"

#include "reactor/reactor_loop.h"

namespace duet {

Channel::Channel(ReactorLoop& loop, int fd, ChannelHandler& handler)
    : loop_(loop), handler_(&handler), fd_(fd) {}

Channel::~Channel() {
  if (registered()) remove();
}

void Channel::tie(const std::shared_ptr<void>& owner) {
  tie_ = owner;
  tied_ = true;
}

bool Channel::setInterest(unsigned interest) {
  if (interest == interest_ && registered()) return true;  // nothing changed: no system call
  const std::uint8_t previous = interest_;
  interest_ = static_cast<std::uint8_t>(interest);
  if (!loop_.updateChannel(*this)) {
    interest_ = previous;
    return false;
  }
  return true;
}

bool Channel::rearm() { return loop_.updateChannel(*this); }

void Channel::remove() {
  interest_ = 0;
  if (registered()) loop_.removeChannel(*this);
}

void Channel::dispatch() {
  const unsigned ready = ready_;
  ChannelHandler* handler = handler_;
  if (tied_) {
    // Hold the owner for the duration of the handler; if it is already gone
    // the event is stale and there is nobody to tell.
    std::shared_ptr<void> guard = tie_.lock();
    if (!guard) return;
    handler->handleReady(ready);
    return;
  }
  handler->handleReady(ready);
}

}  // namespace duet
