// Poller: the "demultiplexer" of the reactor pattern. It keeps the set of
// channels and their interest, and wait() blocks until some are ready.
//
// Three implementations show the history of readiness APIs:
//   select   a bitmap per kind of interest, rebuilt and scanned on every call;
//            fds are limited to FD_SETSIZE (1024).
//   poll     an array of pollfd, passed whole to the kernel on every call, but
//            no fd limit.
//   epoll    the interest set lives in the kernel; wait() returns only the
//            ready fds, so its cost follows activity, not the number of fds.
//
// A channel whose interest becomes empty stays known to the poller (its
// bookkeeping is kept) but is taken out of what the kernel watches: epoll and
// poll report hang-ups and errors even for fds with no interest, and a
// level-triggered hang-up nobody handles would wake the loop forever.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/loop_options.h"
#include "core/loop_stats.h"

namespace duet {

class Channel;

class Poller {
 public:
  virtual ~Poller() = default;

  // Registers `channel` or changes its interest to channel.interest(). Returns
  // false if this poller cannot watch the fd (select: fd >= FD_SETSIZE).
  virtual bool update(Channel& channel) = 0;
  // Forgets `channel`. Its fd must still be open (epoll_ctl needs it).
  virtual void remove(Channel& channel) = 0;
  // Waits up to `timeoutMs` (-1: forever, 0: just look) and appends the ready
  // channels, with Channel::setReady() filled in, to `active`.
  virtual void wait(int timeoutMs, std::vector<Channel*>& active) = 0;

  // The first fd this poller cannot watch, if there is such a limit.
  virtual std::optional<int> descriptorLimit() const { return std::nullopt; }

 protected:
  // Invariant checks shared by every poller, live in builds without NDEBUG
  // (the sanitizer builds): which channel each registered fd belongs to. Each
  // poller finds its channels its own way (a pointer in the kernel's epoll
  // set, a pollfd index, an fd_set bit), and a slip there -- one fd registered
  // by two channels, a channel removed twice, a ready event for a channel that
  // is gone -- would not crash, it would deliver readiness to the wrong
  // object. These turn it into an assertion failure where it happens.
  // Under NDEBUG they do nothing and the table stays empty.
  void noteRegistered(const Channel& channel);         // fd had no channel yet
  void noteRemoved(const Channel& channel);            // fd belonged to `channel`
  void checkFdFree(const Channel& channel) const;      // no channel has its fd yet
  void checkRegistered(const Channel& channel) const;  // fd belongs to `channel`

 private:
  [[maybe_unused]] std::vector<const Channel*> channelByFd_;  // filled only without NDEBUG
};

// The poller for options.backend (Epoll, Poll or Select). Counts its system
// calls in `stats`. Throws BackendUnavailable if it cannot be created.
std::unique_ptr<Poller> makePoller(const LoopOptions& options, LoopStats& stats);

}  // namespace duet
