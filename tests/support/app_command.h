// The command line for one of duet's programs (duet-echo, duet-http) as a
// user runs it, for the tests that start them as subprocesses
// (tests/support/subprocess.h) on each backend configuration.
#pragma once

#include <string>
#include <vector>

#include "tests/support/test_backends.h"

namespace duet::test {

// `path` on `backend` (edge-triggered where the configuration is), listening
// on 127.0.0.1 at a port the kernel picks (the program prints it:
// portFromListeningLine), printing its --stats lines at exit, then `extra`.
std::vector<std::string> appCommand(const char* path, const BackendConfig& backend,
                                    const std::vector<std::string>& extra = {});

}  // namespace duet::test
