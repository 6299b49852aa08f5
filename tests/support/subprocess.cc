#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace duet::test {

Subprocess::Subprocess(const std::vector<std::string>& argv, Options options) {
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
  // Everything the child needs is prepared before fork(): after it, in a
  // multi-threaded parent, only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    if (options.maxOpenFiles) {
      rlimit rl{static_cast<rlim_t>(*options.maxOpenFiles),
                static_cast<rlim_t>(*options.maxOpenFiles)};
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    // The test process blocks SIGINT/SIGTERM in some threads; the child starts clean.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  outFd_ = out[0];
  errFd_ = err[0];
  ::fcntl(outFd_, F_SETFL, O_NONBLOCK);
  ::fcntl(errFd_, F_SETFL, O_NONBLOCK);
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && status_ == -2) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (outFd_ >= 0) ::close(outFd_);
  if (errFd_ >= 0) ::close(errFd_);
}

void Subprocess::drain(int timeoutMs) {
  pollfd fds[2] = {{outFd_, POLLIN, 0}, {errFd_, POLLIN, 0}};
  if (::poll(fds, 2, timeoutMs) <= 0) return;
  char buf[4096];
  for (int i = 0; i < 2; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
    ssize_t n;
    while ((n = ::read(fds[i].fd, buf, sizeof buf)) > 0)
      (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(n));
  }
}

std::string Subprocess::waitForLine(const std::string& needle, int timeoutMs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    const auto hit = out_.find(needle, scanned_);
    if (hit != std::string::npos) {
      const auto end = out_.find('\n', hit);
      if (end != std::string::npos) {
        const auto begin = out_.rfind('\n', hit);
        const std::size_t from = begin == std::string::npos ? 0 : begin + 1;
        scanned_ = end + 1;
        return out_.substr(from, end - from);
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    drain(static_cast<int>(std::min<long>(left.count(), 100)));
  }
}

void Subprocess::signal(int signo) {
  if (pid_ > 0 && status_ == -2) ::kill(pid_, signo);
}

int Subprocess::wait(int timeoutMs) {
  if (status_ != -2) return status_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    int raw = 0;
    const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
    if (r == pid_) {
      drain(0);
      drain(0);
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
      return status_;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    drain(20);
  }
}

int portFromListeningLine(const std::string& line) {
  const auto at = line.find("listening on ");
  if (at == std::string::npos) return 0;
  const auto space = line.find(' ', at + 13);
  const std::string addr =
      line.substr(at + 13, space == std::string::npos ? std::string::npos : space - at - 13);
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) return 0;
  return std::atoi(addr.c_str() + colon + 1);
}

}  // namespace duet::test
