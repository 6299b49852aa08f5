// Which I/O backend a loop runs on, and the one place its names are parsed.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace duet {

// Readiness backends (the reactor) come first, the completion backend (the proactor) last.
enum class Backend { Epoll, Poll, Select, IoUring };

// "epoll", "poll", "select", "uring".
std::string_view backendName(Backend backend);

// Accepts exactly the names backendName() returns; nullopt for anything else.
std::optional<Backend> parseBackend(std::string_view name);

// Every backend duet knows, in a stable order (used by tests and the compare runner).
std::span<const Backend> allBackends();

// "epoll|poll|select|uring": for usage and error messages.
std::string backendChoices();

bool isReactorBackend(Backend backend);

// --backend also takes "auto": the best backend this machine can run, for a
// user who does not care which. "auto|epoll|poll|select|uring".
std::string backendFlagChoices();

// What "auto" stands for here, and why.
struct AutoBackendPick {
  Backend backend;
  std::string why;  // "io_uring set up" or "io_uring unavailable: <reason>"
};

// io_uring where a uring loop can be set up on this machine (the same setup
// `--backend uring` does, made once and closed), else epoll. Declared in core/,
// defined in backends/: only that layer may try the uring backend.
AutoBackendPick pickAutoBackend();

// The one line a program prints for auto, e.g.
// "backend: uring (auto: io_uring set up)".
std::string autoBackendAnnouncement(const AutoBackendPick& pick);

// A --backend value: a backend name as parseBackend() takes it, or "auto"
// resolved by pickAutoBackend(), in which case *announcement gets its one line
// (for a name it is cleared). nullopt for anything else. Defined in backends/.
std::optional<Backend> resolveBackend(std::string_view flag, std::string* announcement);

}  // namespace duet

#include <stdexcept>

namespace duet {

// Thrown by a loop's constructor when its backend cannot run on this machine
// (io_uring disabled by sysctl or seccomp, kernel too old). The message is one
// line a person can act on; apps print it and exit 2, tests skip.
class BackendUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace duet
