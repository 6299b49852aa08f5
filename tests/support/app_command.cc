#include "tests/support/app_command.h"

#include "core/backend.h"

namespace duet::test {

std::vector<std::string> appCommand(const char* path, const BackendConfig& backend,
                                    const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {path, "--backend",
                                   std::string(backendName(backend.loop.backend))};
  argv.insert(argv.end(), {"--host", "127.0.0.1", "--port", "0", "--stats"});
  if (backend.loop.reactor.edgeTriggered) argv.push_back("--edge-triggered");
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

}  // namespace duet::test
