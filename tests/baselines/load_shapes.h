// Runs duet-load against a baseline once per load shape, as both baseline
// tests do: a short window (0.1 s after 0.03 s of warm-up), a generous
// connect timeout, then the shape's own flags. What each test checks in the
// result line stays in that test.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tests/baselines/load_output.h"
#include "tests/support/subprocess.h"

#ifndef DUET_LOAD_PATH
#error "DUET_LOAD_PATH must name the duet-load binary"
#endif

namespace duet::test {

using LoadShape = std::vector<std::string>;  // e.g. {"-c", "200", "-s", "128", "-k", "2"}

// For each shape: runs `duet-load --port PORT <mode> -d 0.1 -w 0.03
// --connect-timeout 5 <shape>`, requires exit status 0 and a JSON result
// line, and hands that line to `check` under a trace that names the shape.
// A failed requirement stops at once: call it inside ASSERT_NO_FATAL_FAILURE
// so that it also ends the calling test.
inline void runEachShape(
    const std::string& port, const std::vector<std::string>& mode,
    const std::vector<LoadShape>& shapes,
    const std::function<void(const LoadShape&, const std::string& line)>& check) {
  for (const auto& shape : shapes) {
    std::vector<std::string> load = {DUET_LOAD_PATH, "--port", port};
    load.insert(load.end(), mode.begin(), mode.end());
    load.insert(load.end(), {"-d", "0.1", "-w", "0.03", "--connect-timeout", "5"});
    load.insert(load.end(), shape.begin(), shape.end());
    Subprocess run(load);
    const int status = run.wait(20000);
    std::string shown;
    for (const auto& f : shape) shown += f + " ";
    SCOPED_TRACE(shown);
    ASSERT_EQ(status, 0) << run.err();
    const std::string line = lastJsonLine(run.out());
    ASSERT_FALSE(line.empty()) << run.out();
    check(shape, line);
  }
}

}  // namespace duet::test
