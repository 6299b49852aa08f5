// Runs one of duet's programs as a child process for end-to-end tests, with
// its stdout and stderr captured and every wait bounded.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace duet::test {

class Subprocess {
 public:
  struct Options {
    std::optional<int> maxOpenFiles;  // RLIMIT_NOFILE for the child
  };

  Subprocess(const std::vector<std::string>& argv, Options options);
  explicit Subprocess(const std::vector<std::string>& argv) : Subprocess(argv, Options{}) {}
  ~Subprocess();  // SIGKILLs a child still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Reads stdout until a line containing `needle` (returned whole) or timeout ("").
  std::string waitForLine(const std::string& needle, int timeoutMs = 10000);
  void signal(int signo);
  // Waits for exit; returns the exit status, or -1 on timeout, 128+N if killed by signal N.
  int wait(int timeoutMs = 15000);
  // Everything read from stdout / stderr so far (wait() drains the rest).
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  pid_t pid() const { return pid_; }

 private:
  void drain(int timeoutMs);
  pid_t pid_ = -1;
  int outFd_ = -1;
  int errFd_ = -1;
  std::string out_;
  std::string err_;
  std::size_t scanned_ = 0;
  int status_ = -2;
};

// The port in a "listening on 127.0.0.1:PORT" line, or 0.
int portFromListeningLine(const std::string& line);

}  // namespace duet::test
