// EventLoop::readFile on every backend: the bytes asked for, the end of the
// file, errors, a read that blocks (a FIFO nobody has written yet) while the
// loop goes on, a caller that goes away before its read completes, loop
// teardown with reads in flight, and the reactor's bounded worker queue.
//
// The stuck read: a FIFO opened O_RDONLY|O_NONBLOCK (so the open does not
// wait for a writer), with a writer opened by the test and O_NONBLOCK then
// cleared on the reading end. A read of it blocks until the test writes:
// the reactor's worker thread sleeps in read(2), the ring parks the read in
// the kernel. No timing decides anything: the test writes only from a
// callback that proves the loop ran while the read was stuck.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/coro/read_file.h"
#include "core/coro/sleep.h"
#include "core/coro/spawn.h"
#include "core/coro/timeout.h"
#include "core/event_loop.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

using std::chrono::milliseconds;

class FileReadTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    std::string tmpl = (std::filesystem::temp_directory_path() / "duet-file-read-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    // Before the descriptor check: the writer must be closed by then.
    closeWriter();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    BackendTest::TearDown();
  }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  static SharedFd open(const std::string& path, int flags = O_RDONLY) {
    return shareFd(UniqueFd(::open(path.c_str(), flags | O_CLOEXEC)));
  }

  // A FIFO whose reading end blocks until writeFifo() (or EOF once closeWriter()).
  SharedFd makeStuckFile() {
    const std::string path = (dir_ / "stuck.fifo").string();
    EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
    UniqueFd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    writer_ = UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    EXPECT_TRUE(reader && writer_);
    EXPECT_EQ(::fcntl(reader.get(), F_SETFL, ::fcntl(reader.get(), F_GETFL) & ~O_NONBLOCK), 0);
    return shareFd(std::move(reader));
  }
  void writeFifo(const std::string& bytes) {
    ASSERT_EQ(::write(writer_.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  void closeWriter() { writer_.reset(); }

  // Runs `loop` until `done()` holds or 10 s pass (then the test fails on its
  // own assertions; the wait only bounds a broken run).
  static void runUntil(EventLoop& loop, const std::function<bool()>& done) {
    const TimerId check = loop.runEvery(milliseconds(1), [&] {
      if (done()) loop.quit();
    });
    const TimerId limit = loop.runAfter(std::chrono::seconds(10), [&] { loop.quit(); });
    loop.run();
    loop.cancel(check);
    loop.cancel(limit);
  }

  std::filesystem::path dir_;
  UniqueFd writer_;
};

TEST_P(FileReadTest, ReadsTheBytesAskedForAndStopsAtTheEnd) {
  const std::string path = write("ten.txt", "0123456789");
  auto loop = makeEventLoop(loopOptions());
  const SharedFd file = open(path);
  std::vector<std::optional<FileReadResult>> results(4);
  loop->readFile(file, 2, 5, [&](FileReadResult r) { results[0] = std::move(r); });
  loop->readFile(file, 8, 10,
                 [&](FileReadResult r) { results[1] = std::move(r); });  // runs into the end
  loop->readFile(file, 20, 5,
                 [&](FileReadResult r) { results[2] = std::move(r); });  // past the end
  loop->readFile(file, 0, 0,
                 [&](FileReadResult r) { results[3] = std::move(r); });  // nothing asked
  EXPECT_FALSE(results[0] || results[1] || results[2] || results[3])
      << "a callback ran inside readFile()";
  runUntil(*loop, [&] { return results[0] && results[1] && results[2] && results[3]; });
  ASSERT_TRUE(results[0] && results[1] && results[2] && results[3]);
  EXPECT_EQ(results[0]->error, 0);
  EXPECT_EQ(results[0]->bytes, "23456");
  EXPECT_EQ(results[1]->error, 0);
  EXPECT_EQ(results[1]->bytes, "89") << "a read that runs into the end of the file is short";
  EXPECT_EQ(results[2]->error, 0);
  EXPECT_EQ(results[2]->bytes, "") << "past the end: no bytes, no error";
  EXPECT_EQ(results[3]->error, 0);
  EXPECT_EQ(results[3]->bytes, "");
}

TEST_P(FileReadTest, LargeReadsArriveWhole) {
  const std::string content = patternBytes(3 * 1024 * 1024 + 17, 5);
  const std::string path = write("big.bin", content);
  auto loop = makeEventLoop(loopOptions());
  std::optional<FileReadResult> result;
  loop->readFile(open(path), 0, content.size(), [&](FileReadResult r) { result = std::move(r); });
  runUntil(*loop, [&] { return result.has_value(); });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->error, 0);
  EXPECT_TRUE(result->bytes == content)
      << result->bytes.size() << " of " << content.size() << " bytes";
}

TEST_P(FileReadTest, ErrorsComeBackAsErrno) {
  const std::string path = write("f.txt", "abc");
  auto loop = makeEventLoop(loopOptions());
  std::optional<FileReadResult> writeOnly, directory, removed, truncated;
  // An I/O error the kernel reports for the read itself: a descriptor opened
  // for writing only, and a directory.
  loop->readFile(open(path, O_WRONLY), 0, 3, [&](FileReadResult r) { writeOnly = std::move(r); });
  loop->readFile(open(dir_.string(), O_RDONLY | O_DIRECTORY), 0, 3,
                 [&](FileReadResult r) { directory = std::move(r); });
  // A file removed after it was opened is still read (the descriptor holds it).
  const SharedFd gone = open(write("gone.txt", "still here"));
  std::filesystem::remove(dir_ / "gone.txt");
  loop->readFile(gone, 0, 10, [&](FileReadResult r) { removed = std::move(r); });
  // A file that shrank after its size was taken: the read is short, not an error.
  const SharedFd shrinking = open(write("shrink.txt", "0123456789"));
  ASSERT_EQ(::truncate((dir_ / "shrink.txt").c_str(), 4), 0);
  loop->readFile(shrinking, 0, 10, [&](FileReadResult r) { truncated = std::move(r); });
  runUntil(*loop, [&] { return writeOnly && directory && removed && truncated; });
  ASSERT_TRUE(writeOnly && directory && removed && truncated);
  EXPECT_EQ(writeOnly->error, EBADF);
  EXPECT_TRUE(writeOnly->bytes.empty());
  EXPECT_NE(directory->error, 0) << "reading a directory must fail (EISDIR)";
  EXPECT_TRUE(directory->bytes.empty());
  EXPECT_EQ(removed->error, 0);
  EXPECT_EQ(removed->bytes, "still here");
  EXPECT_EQ(truncated->error, 0);
  EXPECT_EQ(truncated->bytes, "0123");
}

// Issue 13, item 4, at the engine's level: a read that cannot complete does
// not hold up the loop. The timer below runs while the read is stuck (it is
// what unblocks it), so if the loop waited for the read, the timer could
// never run and the read would never complete: the test would fail at the
// bounded wait, not hang (the writer closes in TearDown either way).
TEST_P(FileReadTest, AStuckReadDoesNotStopTheLoop) {
  auto loop = makeEventLoop(loopOptions());
  const SharedFd stuck = makeStuckFile();
  std::optional<FileReadResult> result;
  bool taskRan = false;
  bool timerRan = false;
  bool readPendingWhileTimerRan = false;
  loop->readFile(stuck, 0, 5, [&](FileReadResult r) { result = std::move(r); });
  loop->queueInLoop([&] { taskRan = true; });
  loop->runAfter(milliseconds(1), [&] {
    timerRan = true;
    readPendingWhileTimerRan = !result.has_value();
    writeFifo("hello");
  });
  runUntil(*loop, [&] { return result.has_value(); });
  EXPECT_TRUE(taskRan);
  EXPECT_TRUE(timerRan);
  EXPECT_TRUE(readPendingWhileTimerRan);
  ASSERT_TRUE(result) << "the read never completed";
  EXPECT_EQ(result->error, 0);
  EXPECT_EQ(result->bytes, "hello");
}

// The caller (say, a connection) is gone and has dropped its file before the
// read completes: the read still owns its descriptor and buffer, completes,
// and the callback finds nobody to tell. ASan would see a use after free.
TEST_P(FileReadTest, AReadWhoseCallerWentAwayCompletesHarmlessly) {
  const std::string path = write("f.txt", "payload");
  auto loop = makeEventLoop(loopOptions());
  const SharedFd stuck = makeStuckFile();
  auto owner = std::make_shared<std::string>("connection");
  int called = 0;
  bool ownerWasGone = false;
  auto callback = [&, weak = std::weak_ptr<std::string>(owner)](FileReadResult) {
    ++called;
    ownerWasGone = weak.expired();
  };
  loop->readFile(open(path), 0, 7, callback);  // our own reference to the file is dropped at once
  loop->readFile(stuck, 0, 4, callback);
  owner.reset();
  loop->runAfter(milliseconds(1), [&] { writeFifo("late"); });
  runUntil(*loop, [&] { return called == 2; });
  EXPECT_EQ(called, 2);
  EXPECT_TRUE(ownerWasGone);
  EXPECT_EQ(stuck.use_count(), 1) << "the read still holds the descriptor after completing";
}

// Teardown with reads in flight: nothing is called back, nothing leaks (the
// callbacks' captures are released, every descriptor closes; ASan checks the
// buffers). On the ring the stuck read is cancelled where it waits. A
// reactor's worker cannot be interrupted inside read(2), so there the FIFO
// is given its end of file first: the worker finishes, its result is queued
// to a loop that never runs again.
TEST_P(FileReadTest, LoopDestroyedWithReadsInFlightLeaksNothing) {
  const std::string path = write("f.txt", "abc");
  LoopOptions options = loopOptions();
  options.fileReadThreads = 1;  // the second read waits behind the stuck one
  auto loop = makeEventLoop(options);
  SharedFd stuck = makeStuckFile();
  auto token = std::make_shared<int>(0);
  int called = 0;
  loop->readFile(stuck, 0, 4, [&, token](FileReadResult) { ++called; });
  loop->readFile(open(path), 0, 3, [&, token](FileReadResult) { ++called; });
  stuck.reset();
  // One turn, so the reads are really under way (submitted, or with a worker).
  loop->runAfter(milliseconds(1), [&] { loop->quit(); });
  loop->run();
  const int calledBeforeTeardown = called;
  if (loop->backend() != Backend::IoUring) closeWriter();
  loop.reset();
  EXPECT_EQ(called, calledBeforeTeardown) << "a callback ran during teardown";
  EXPECT_EQ(token.use_count(), 1) << "a read's callback outlived its loop";
}

// The reactor's worker queue is bounded: a read beyond it is refused at once
// with EBUSY, while the accepted ones wait for the stuck worker. With one
// worker and room for one queued read, three reads of a stuck FIFO leave at
// least one refused, whether or not the worker had taken the first yet.
TEST_P(FileReadTest, AFullWorkerQueueRefusesAtOnceWithEbusy) {
  if (loopOptions().backend == Backend::IoUring)
    GTEST_SKIP() << "the proactor reads on its ring: no worker queue";
  LoopOptions options = loopOptions();
  options.fileReadThreads = 1;
  options.fileReadQueue = 1;
  auto loop = makeEventLoop(options);
  const SharedFd stuck = makeStuckFile();
  std::vector<FileReadResult> results;
  for (int i = 0; i < 3; ++i)
    loop->readFile(stuck, 0, 3, [&](FileReadResult r) { results.push_back(std::move(r)); });
  runUntil(*loop, [&] { return !results.empty(); });
  ASSERT_FALSE(results.empty()) << "no read was refused";
  const std::size_t refused = results.size();
  EXPECT_LE(refused, 2u);
  for (const FileReadResult& r : results) {
    EXPECT_EQ(r.error, EBUSY);
    EXPECT_TRUE(r.bytes.empty());
  }
  // The accepted ones complete once the FIFO has bytes, then its end.
  writeFifo("abc");
  closeWriter();
  runUntil(*loop, [&] { return results.size() == 3; });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[refused].error, 0);
  EXPECT_EQ(results[refused].bytes, "abc");
  for (std::size_t i = refused + 1; i < results.size(); ++i) {
    EXPECT_EQ(results[i].error, 0);
    EXPECT_EQ(results[i].bytes, "") << "the FIFO had ended";
  }
}

// ---- co_await coro::readFile (core/coro/read_file.h): the same reads from a coroutine ----

// Counts the frames alive that hold one: a destroyed frame runs its destructor.
struct FrameCounter {
  explicit FrameCounter(int& n) : live(n) { ++live; }
  ~FrameCounter() { --live; }
  int& live;
};

// The bytes and an errno come back to the coroutine, resumed on the loop
// thread, never inside the co_await's start; a stuck read does not stop
// another coroutine (the one that unblocks it) from running meanwhile.
TEST_P(FileReadTest, CoroutineReadsBytesAndErrorsWhileOthersRun) {
  const std::string path = write("ten.txt", "0123456789");
  auto loop = makeEventLoop(loopOptions());
  const SharedFd stuck = makeStuckFile();
  std::optional<FileReadResult> bytes, directory, fromFifo;
  bool resumedOnLoopThread = true;
  bool fifoWrittenWhileReadPending = false;
  // Named lambdas: a coroutine lambda's captures live in the lambda object,
  // which must outlive the frame.
  auto readFileAndDirectory = [&]() -> coro::Task<void> {
    FileReadResult got = co_await coro::readFile(*loop, open(path), 2, 5);
    bytes = std::move(got);
    got = co_await coro::readFile(*loop, open(dir_.string(), O_RDONLY | O_DIRECTORY), 0, 3);
    directory = std::move(got);
    resumedOnLoopThread = resumedOnLoopThread && loop->isInLoopThread();
  };
  auto readFifo = [&]() -> coro::Task<void> {
    FileReadResult got = co_await coro::readFile(*loop, stuck, 0, 5);
    fromFifo = std::move(got);
    resumedOnLoopThread = resumedOnLoopThread && loop->isInLoopThread();
  };
  auto writeFifoLater = [&]() -> coro::Task<void> {
    co_await coro::sleep(*loop, milliseconds(1));
    fifoWrittenWhileReadPending = !fromFifo.has_value();
    writeFifo("hello");
  };
  coro::spawn(readFileAndDirectory());
  coro::spawn(readFifo());
  EXPECT_FALSE(bytes || fromFifo) << "a coroutine resumed inside readFile()";
  EXPECT_EQ(coro::liveSpawnedCount(), 2u);
  coro::spawn(writeFifoLater());
  runUntil(*loop, [&] { return directory && fromFifo && coro::liveSpawnedCount() == 0; });
  ASSERT_TRUE(bytes && directory && fromFifo);
  EXPECT_EQ(bytes->error, 0);
  EXPECT_EQ(bytes->bytes, "23456");
  EXPECT_NE(directory->error, 0) << "reading a directory must fail (EISDIR)";
  EXPECT_TRUE(directory->bytes.empty());
  EXPECT_EQ(fromFifo->error, 0);
  EXPECT_EQ(fromFifo->bytes, "hello");
  EXPECT_TRUE(fifoWrittenWhileReadPending);
  EXPECT_TRUE(resumedOnLoopThread);
  EXPECT_EQ(coro::liveSpawnedCount(), 0u);
}

// The waiting frame is destroyed while its read is in flight (withTimeout
// gives up on it): the read still completes -- it owns its descriptor -- and
// its callback then does nothing (ASan would see a resume of the freed frame).
TEST_P(FileReadTest, CoroutineFrameDestroyedMidReadIsNotResumed) {
  auto loop = makeEventLoop(loopOptions());
  SharedFd stuck = makeStuckFile();
  std::weak_ptr<const UniqueFd> stuckFile = stuck;
  int readFrames = 0;
  int resumedAfterRead = 0;
  std::optional<bool> timedOut;
  auto readStuck = [&](SharedFd file) -> coro::Task<void> {
    FrameCounter alive(readFrames);
    const FileReadResult got = co_await coro::readFile(*loop, std::move(file), 0, 4);
    ++resumedAfterRead;  // never: this frame is gone before the read completes
    (void)got;
  };
  auto readWithTimeout = [&]() -> coro::Task<void> {
    const bool finished = co_await coro::withTimeout(*loop, readStuck(stuck), milliseconds(1));
    timedOut = !finished;
  };
  coro::spawn(readWithTimeout());
  stuck.reset();  // only the read holds the FIFO now
  runUntil(*loop, [&] { return timedOut.has_value(); });
  ASSERT_TRUE(timedOut);
  EXPECT_TRUE(*timedOut) << "the FIFO was never written: the read cannot have finished";
  EXPECT_EQ(readFrames, 0) << "the abandoned frame is still alive";
  EXPECT_FALSE(stuckFile.expired()) << "the read let go of its descriptor before completing";
  // Now let the read complete: its callback finds the frame withdrawn.
  writeFifo("late");
  runUntil(*loop, [&] { return stuckFile.expired(); });
  EXPECT_TRUE(stuckFile.expired()) << "the read never completed";
  EXPECT_EQ(resumedAfterRead, 0);
  EXPECT_EQ(coro::liveSpawnedCount(), 0u);
}

// The loop is destroyed while coroutines wait on reads (one stuck, one
// queued behind it on a reactor's single worker): the loop drops their
// callbacks uncalled, and dropping them destroys the coroutines' frames --
// nothing resumed, nothing leaked (liveSpawnedCount, CleanupChecker's
// descriptors, ASan).
TEST_P(FileReadTest, LoopDestroyedUnderCoroutineReadsDestroysTheirFrames) {
  const std::string path = write("f.txt", "abc");
  LoopOptions options = loopOptions();
  options.fileReadThreads = 1;  // the second read waits behind the stuck one
  auto loop = makeEventLoop(options);
  SharedFd stuck = makeStuckFile();
  int frames = 0;
  int resumed = 0;
  auto readOne = [&](SharedFd file) -> coro::Task<void> {
    FrameCounter alive(frames);
    const FileReadResult got = co_await coro::readFile(*loop, std::move(file), 0, 3);
    ++resumed;
    (void)got;
  };
  coro::spawn(readOne(stuck));
  coro::spawn(readOne(open(path)));
  stuck.reset();
  // One turn, so the reads are really under way (submitted, or with a worker).
  loop->runAfter(milliseconds(1), [&] { loop->quit(); });
  loop->run();
  const int resumedBeforeTeardown = resumed;
  ASSERT_EQ(frames, 2 - resumedBeforeTeardown) << "a coroutine ended without resuming";
  EXPECT_GE(coro::liveSpawnedCount(), 1u) << "the stuck read's coroutine must still wait";
  if (loop->backend() != Backend::IoUring)
    closeWriter();  // a worker cannot be interrupted in read(2)
  loop.reset();
  EXPECT_EQ(resumed, resumedBeforeTeardown) << "a coroutine resumed during teardown";
  EXPECT_EQ(frames, 0) << "a frame outlived its loop";
  EXPECT_EQ(coro::liveSpawnedCount(), 0u);
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(FileReadTest);

}  // namespace
}  // namespace duet::test
