// --api callbacks|coroutines: which of duet's two application APIs a server
// program runs its connections with. The programs keep both versions side by
// side (apps/echo/echo_callbacks.h and echo_coroutine.h) so a reader sees
// exactly which lines differ; the flag picks one at start.
#pragma once

#include <optional>
#include <string_view>

namespace duet::app {

enum class ApiStyle {
  Callbacks,   // ConnectionCallbacks: onMessage, onWriteComplete, ...
  Coroutines,  // coro::serve(): one coroutine per connection (core/coro)
};

inline std::string_view apiStyleName(ApiStyle api) {
  return api == ApiStyle::Callbacks ? "callbacks" : "coroutines";
}

inline std::optional<ApiStyle> parseApiStyle(std::string_view name) {
  if (name == "callbacks") return ApiStyle::Callbacks;
  if (name == "coroutines") return ApiStyle::Coroutines;
  return std::nullopt;
}

}  // namespace duet::app
