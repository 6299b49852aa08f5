#include "core/log.h"

#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/unit_helpers.h"

namespace duet {
namespace {

using duet::testing::StderrCapture;

// Restores the process-wide threshold whatever a test sets.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = logLevel(); }
  void TearDown() override { setLogLevel(saved_); }

 private:
  LogLevel saved_ = LogLevel::Info;
};

TEST(ParseLogLevel, AcceptsEveryName) {
  EXPECT_EQ(parseLogLevel("trace"), LogLevel::Trace);
  EXPECT_EQ(parseLogLevel("debug"), LogLevel::Debug);
  EXPECT_EQ(parseLogLevel("info"), LogLevel::Info);
  EXPECT_EQ(parseLogLevel("warn"), LogLevel::Warn);
  EXPECT_EQ(parseLogLevel("error"), LogLevel::Error);
  EXPECT_EQ(parseLogLevel("off"), LogLevel::Off);
}

TEST(ParseLogLevel, RejectsOthers) {
  for (const char* bad : {"", "verbose", "fatal", "info ", "inf", "warning2", "0"}) {
    EXPECT_FALSE(parseLogLevel(bad).has_value()) << "'" << bad << "'";
  }
}

TEST_F(LogTest, ThresholdOrdering) {
  setLogLevel(LogLevel::Warn);
  EXPECT_EQ(logLevel(), LogLevel::Warn);
  EXPECT_FALSE(logEnabled(LogLevel::Trace));
  EXPECT_FALSE(logEnabled(LogLevel::Debug));
  EXPECT_FALSE(logEnabled(LogLevel::Info));
  EXPECT_TRUE(logEnabled(LogLevel::Warn));
  EXPECT_TRUE(logEnabled(LogLevel::Error));
  setLogLevel(LogLevel::Off);
  EXPECT_FALSE(logEnabled(LogLevel::Error));
  setLogLevel(LogLevel::Trace);
  EXPECT_TRUE(logEnabled(LogLevel::Trace));
}

TEST_F(LogTest, ArgumentsBelowThresholdAreNotEvaluated) {
  setLogLevel(LogLevel::Warn);
  int evaluated = 0;
  auto expensive = [&] {
    ++evaluated;
    return std::string("costly");
  };
  StderrCapture capture;
  DUET_LOG(Trace) << expensive();
  DUET_LOG(Debug) << expensive() << expensive();
  DUET_LOG(Info) << ++evaluated;
  EXPECT_EQ(evaluated, 0);
  DUET_LOG(Warn) << "visible " << expensive();
  EXPECT_EQ(evaluated, 1);
  setLogLevel(LogLevel::Off);
  DUET_LOG(Error) << expensive();
  EXPECT_EQ(evaluated, 1);
  const std::string text = capture.text();
  EXPECT_NE(text.find("visible costly"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "exactly one line expected: " << text;
}

TEST_F(LogTest, MacroIsSafeInIfElse) {
  // The macro's own if/else must not capture a caller's else.
  setLogLevel(LogLevel::Off);
  bool elseTaken = false;
  const bool cond = false;
  if (cond) DUET_LOG(Error) << "never";
  else elseTaken = true;
  EXPECT_TRUE(elseTaken);
}

TEST_F(LogTest, LineFormat) {
  setLogLevel(LogLevel::Info);
  StderrCapture capture;
  DUET_LOG(Error) << "answer=" << 42;
  const int line = __LINE__ - 1;
  DUET_LOG(Info) << "second";
  const std::string text = capture.text();
  // "HH:MM:SS.mmm LEVEL [tid] file:line message"
  const std::regex re(
      "^\\d\\d:\\d\\d:\\d\\d\\.\\d+ ERROR \\[\\d+\\] log_test\\.cc:" + std::to_string(line) +
      " answer=42\n\\d\\d:\\d\\d:\\d\\d\\.\\d+ INFO  \\[\\d+\\] log_test\\.cc:\\d+ second\n$");
  EXPECT_TRUE(std::regex_match(text, re)) << text;
}

TEST_F(LogTest, MillisecondsAreZeroPadded) {
  // "12:00:00.5" would read as half a second; a timestamp needs ".005".
  // Wait (at most about a second) for a moment early in a second, so the
  // milliseconds are below 100 and the padding shows.
  using namespace std::chrono;
  auto millis = [] {
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() % 1000;
  };
  for (int i = 0; i < 2000 && millis() >= 50; ++i) std::this_thread::sleep_for(milliseconds(1));
  setLogLevel(LogLevel::Info);
  StderrCapture capture;
  DUET_LOG(Warn) << "early in the second";
  const std::string text = capture.text();
  const std::regex re("^\\d\\d:\\d\\d:\\d\\d\\.(\\d+) WARN .*\n$");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(text, m, re)) << text;
  EXPECT_EQ(m[1].length(), 3) << "milliseconds not zero-padded: " << text;
}

TEST_F(LogTest, LinesFromThreadsDoNotInterleave) {
  setLogLevel(LogLevel::Info);
  StderrCapture capture;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 50; ++i) DUET_LOG(Info) << "thread " << t << " line " << i << " end";
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = capture.text();
  std::istringstream in(text);
  std::string line;
  int lines = 0;
  const std::regex re("^.* INFO  \\[\\d+\\] log_test\\.cc:\\d+ thread \\d line \\d+ end$");
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_TRUE(std::regex_match(line, re)) << line;
  }
  EXPECT_EQ(lines, 200);
}

}  // namespace
}  // namespace duet
