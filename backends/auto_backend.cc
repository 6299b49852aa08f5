// --backend auto: try the uring backend once, fall back to epoll. Here, not in
// core/, because trying a backend means making its loop (makeEventLoop), which
// only this layer may do.
#include <string>
#include <string_view>

#include "core/backend.h"
#include "core/event_loop.h"
#include "core/loop_options.h"

namespace duet {

namespace {

// BackendUnavailable's messages read "io_uring is unavailable: <reason>; run
// with --backend epoll" (proactor/ring_setup.cc). Auto already runs epoll, so
// the advice is dropped and the reason kept; any other message is kept whole.
std::string reasonFrom(std::string_view message) {
  constexpr std::string_view prefix = "io_uring is unavailable: ";
  constexpr std::string_view advice = "; run with --backend epoll";
  if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
  if (message.ends_with(advice)) message.remove_suffix(advice.size());
  return std::string(message);
}

}  // namespace

AutoBackendPick pickAutoBackend() {
  LoopOptions uring;
  uring.backend = Backend::IoUring;
  try {
    makeEventLoop(uring);  // set up, then closed at once: the loop the program makes is its own
  } catch (const BackendUnavailable& e) {
    return {Backend::Epoll, "io_uring unavailable: " + reasonFrom(e.what())};
  }
  return {Backend::IoUring, "io_uring set up"};
}

std::optional<Backend> resolveBackend(std::string_view flag, std::string* announcement) {
  announcement->clear();
  if (flag == "auto") {
    const AutoBackendPick pick = pickAutoBackend();
    *announcement = autoBackendAnnouncement(pick);
    return pick.backend;
  }
  return parseBackend(flag);
}

}  // namespace duet
