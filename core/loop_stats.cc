#include "core/loop_stats.h"

#include <ostream>
#include <sstream>

namespace duet {

std::string_view syscallName(Syscall s) {
  switch (s) {
    case Syscall::Wait:
      return "wait";
    case Syscall::Read:
      return "read";
    case Syscall::Write:
      return "write";
    case Syscall::Accept:
      return "accept";
    case Syscall::Close:
      return "close";
    case Syscall::Control:
      return "control";
    case Syscall::Wakeup:
      return "wakeup";
    case Syscall::kCount:
      break;
  }
  return "?";
}

std::uint64_t LoopStats::totalSyscalls() const {
  std::uint64_t sum = 0;
  for (const Counter& c : syscalls) sum += c.get();
  return sum;
}

namespace {
// One table of (name, counter) so print() and toJson() cannot drift apart.
template <typename Fn>
void forEachCounter(const LoopStats& s, Fn&& fn) {
  fn("syscalls", s.totalSyscalls());
  for (int i = 0; i < static_cast<int>(Syscall::kCount); ++i) {
    fn(std::string("sys_") + std::string(syscallName(static_cast<Syscall>(i))),
       s.syscalls[i].get());
  }
  fn("wakeups", s.wakeups.get());
  fn("events", s.events.get());
  fn("tasks", s.tasks.get());
  fn("timers_fired", s.timersFired.get());
  fn("bytes_in", s.bytesIn.get());
  fn("bytes_out", s.bytesOut.get());
  fn("reads", s.reads.get());
  fn("send_ops", s.sendOps.get());
  fn("accepted", s.accepted.get());
  fn("closed", s.closed.get());
  fn("refused", s.refused.get());
  fn("accept_errors", s.acceptErrors.get());
  fn("accept_shed", s.acceptShed.get());
  fn("resets", s.resets.get());
  fn("output_overflows", s.outputOverflows.get());
  fn("idle_evictions", s.idleEvictions.get());
  // io_uring only (LoopStats::UringCounters): zero on a reactor.
  fn("sqes", s.uring.sqesSubmitted.get());
  fn("cqes", s.uring.cqesReaped.get());
  fn("enters", s.uring.enterCalls.get());
  fn("enobufs", s.uring.bufferRingEmpty.get());
  fn("recv_rearms", s.uring.recvRearms.get());
  fn("cq_overflows", s.uring.cqOverflows.get());
  fn("cqes_dropped", s.uring.cqesDropped.get());
  fn("send_zc", s.uring.sendZeroCopy.get());
  fn("recv_direct", s.uring.recvDirect.get());
  fn("send_vectored", s.uring.sendsVectored.get());
}
}  // namespace

void LoopStats::print(std::ostream& out, std::string_view loopName, std::string_view mode) const {
  out << "stats loop=" << loopName << " mode=" << mode;
  forEachCounter(*this,
                 [&](const std::string& name, std::uint64_t v) { out << ' ' << name << '=' << v; });
  const std::uint64_t w = wakeups.get();
  out << " events_per_wakeup="
      << (w ? static_cast<double>(events.get()) / static_cast<double>(w) : 0.0) << '\n';
}

std::string LoopStats::toJson(std::string_view mode) const {
  std::ostringstream out;
  out << "{\"mode\":\"" << mode << '"';
  forEachCounter(
      *this, [&](const std::string& name, std::uint64_t v) { out << ",\"" << name << "\":" << v; });
  out << '}';
  return out.str();
}

}  // namespace duet
