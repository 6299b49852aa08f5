// Buffer: the copy every byte of every connection goes through.
#include <unistd.h>

#include <string>

#include <benchmark/benchmark.h>

#include "bench/micro/bench_util.h"
#include "core/buffer.h"

namespace duet::bench {
namespace {

// Append a message and consume it, with the buffer reused (the steady state
// of a connection's input buffer).
void BM_BufferAppendRetrieve(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string payload(size, 'x');
  Buffer buf;
  for (auto _ : state) {
    buf.append(payload);
    benchmark::DoNotOptimize(buf.peek());
    buf.retrieve(size);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_BufferAppendRetrieve)->Arg(64)->Arg(4 << 10)->Arg(64 << 10);

// The same with a fresh Buffer each time: includes the lazy first allocation
// (and its free), the cost a short-lived connection pays.
void BM_BufferAppendRetrieveFresh(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string payload(size, 'x');
  for (auto _ : state) {
    Buffer buf;
    buf.append(payload);
    benchmark::DoNotOptimize(buf.peek());
    buf.retrieve(size);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_BufferAppendRetrieveFresh)->Arg(64)->Arg(4 << 10)->Arg(64 << 10);

// Many small appends consumed in a partial, pipelined way: exercises the
// slide-to-front path rather than a clean retrieveAll each time.
void BM_BufferPartialRetrieveSlide(benchmark::State& state) {
  const std::string piece(100, 'p');
  Buffer buf;
  for (auto _ : state) {
    buf.append(piece);
    if (buf.readableBytes() > 900) buf.retrieve(850);
    benchmark::DoNotOptimize(buf.peek());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * piece.size()));
}
BENCHMARK(BM_BufferPartialRetrieveSlide);

// write(2) of `size` bytes into a socketpair, then Buffer::readFd until all
// has arrived (readv with the 64 KiB stack spill). Includes the write: compare
// with BM_SocketPairWriteRead below, the same with a plain read(2) into a
// stack array, to see what the Buffer itself adds.
void BM_BufferReadFd(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  SocketPair sp;
  if (!sp.ok) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const std::string payload(size, 'r');
  Buffer buf;
  int savedErrno = 0;
  for (auto _ : state) {
    if (!writeAll(sp.writer.get(), payload.data(), size)) {
      state.SkipWithError("write failed");
      break;
    }
    while (buf.readableBytes() < size) {
      if (buf.readFd(sp.reader.get(), &savedErrno) <= 0) {
        state.SkipWithError("readFd failed");
        return;
      }
    }
    buf.retrieveAll();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_BufferReadFd)->Arg(128)->Arg(64 << 10);

// readFd into a buffer that is freed after every message (Buffer::shrink), as a
// server that gives idle connections' memory back does: every read goes
// through the spill area and allocates.
void BM_BufferReadFdShrinkEachTime(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  SocketPair sp;
  if (!sp.ok) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const std::string payload(size, 'r');
  Buffer buf;
  int savedErrno = 0;
  for (auto _ : state) {
    if (!writeAll(sp.writer.get(), payload.data(), size)) {
      state.SkipWithError("write failed");
      break;
    }
    while (buf.readableBytes() < size) {
      if (buf.readFd(sp.reader.get(), &savedErrno) <= 0) {
        state.SkipWithError("readFd failed");
        return;
      }
    }
    buf.retrieveAll();
    buf.shrink();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_BufferReadFdShrinkEachTime)->Arg(128)->Arg(64 << 10);

// Baseline for BM_BufferReadFd: the same system calls, no Buffer.
void BM_SocketPairWriteRead(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  SocketPair sp;
  if (!sp.ok) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const std::string payload(size, 'r');
  static char sink[64 << 10];
  for (auto _ : state) {
    if (!writeAll(sp.writer.get(), payload.data(), size)) {
      state.SkipWithError("write failed");
      break;
    }
    std::size_t got = 0;
    while (got < size) {
      const ssize_t n = ::read(sp.reader.get(), sink, sizeof sink);
      if (n <= 0) {
        state.SkipWithError("read failed");
        return;
      }
      got += static_cast<std::size_t>(n);
    }
    benchmark::DoNotOptimize(sink);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_SocketPairWriteRead)->Arg(128)->Arg(64 << 10);

}  // namespace
}  // namespace duet::bench
