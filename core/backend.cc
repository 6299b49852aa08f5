#include "core/backend.h"

#include <array>

namespace duet {
namespace {
constexpr std::array kBackends{Backend::Epoll, Backend::Poll, Backend::Select, Backend::IoUring};
}

std::string_view backendName(Backend backend) {
  switch (backend) {
    case Backend::Epoll:
      return "epoll";
    case Backend::Poll:
      return "poll";
    case Backend::Select:
      return "select";
    case Backend::IoUring:
      return "uring";
  }
  return "unknown";
}

std::optional<Backend> parseBackend(std::string_view name) {
  for (Backend b : kBackends) {
    if (backendName(b) == name) return b;
  }
  return std::nullopt;
}

std::span<const Backend> allBackends() { return kBackends; }

std::string backendChoices() {
  std::string out;
  for (Backend b : kBackends) {
    if (!out.empty()) out += '|';
    out += backendName(b);
  }
  return out;
}

bool isReactorBackend(Backend backend) { return backend != Backend::IoUring; }

std::string backendFlagChoices() { return "auto|" + backendChoices(); }

std::string autoBackendAnnouncement(const AutoBackendPick& pick) {
  return "backend: " + std::string(backendName(pick.backend)) + " (auto: " + pick.why + ")";
}

}  // namespace duet
