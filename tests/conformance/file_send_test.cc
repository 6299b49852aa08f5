// Connection::sendFile on every backend: a file range goes out in order with
// the bytes sent around it, a large one to a slow reader counts against the
// high-water mark but not the output cap (it is not in memory), the file's
// descriptor is let go once sent or when the connection closes, and a file
// shorter than promised cuts its connection while the others are served.
//
// The reactors send with sendfile(2), after the loop's file-read workers have
// brought a range the page cache lacks into it; the proactor reads chunks
// with ring reads and sends them (core/connection.cc). The tests do not care
// which: they check what the peer receives and what the connection reports.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/file_read.h"
#include "tests/conformance/conformance_fixture.h"
#include "tests/support/flow_counts.h"

namespace duet::test {
namespace {

class FileSendTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    std::string tmpl = (std::filesystem::temp_directory_path() / "duet-file-send-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    BackendTest::TearDown();
  }

  // Writes `content` to a file and returns its path. `cold`: its pages are
  // dropped from the page cache (where the file system allows), so the
  // reactors' sendfile path must have the workers read them in first.
  std::string write(const std::string& name, const std::string& content, bool cold = false) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    if (cold) {
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      ::fdatasync(fd.get());
      ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    }
    return path;
  }
  static SharedFd open(const std::string& path) {
    return shareFd(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)));
  }

  std::filesystem::path dir_;
};

// Bytes, files and a Buffer, one after the other in one handler, then a
// half-close: the peer gets them in exactly that order, then the FIN.
TEST_P(FileSendTest, FilesAndBytesArriveInOrderThenTheFin) {
  const std::string small = patternBytes(64 * 1024, 1);
  const std::string large = patternBytes(3 * 1024 * 1024 + 123, 2);
  const std::string smallPath = write("small.bin", small);
  const std::string largePath = write("large.bin", large, /*cold=*/true);
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    conn->send("head:");
    conn->sendFile(open(smallPath), 100, 5000);
    conn->send("|mid|");
    conn->sendFile(open(largePath), 0, large.size());
    Buffer tail;
    tail.append("|tail|");
    conn->send(std::move(tail));
    conn->sendFile(open(smallPath), 0, 10);
    conn->sendFile(open(smallPath), 7, 0);  // nothing: sends nothing
    conn->send(":end");
    conn->shutdown();  // the FIN goes after all of it
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  const std::string expected =
      "head:" + small.substr(100, 5000) + "|mid|" + large + "|tail|" + small.substr(0, 10) + ":end";
  bool sawEof = false;
  const std::string got = client.recvUntilClosed(30000, &sawEof);
  EXPECT_TRUE(sawEof) << "the half-close never came";
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "bytes reordered or changed";
}

// A 24 MiB file to a peer that reads nothing at first: it is pending output
// (the high-water mark fires once, onWriteComplete only when it is all out),
// but it is not memory, so the output cap (far below the file) does not cut
// the connection: the proactor's read-and-send holds at most two chunks, the
// reactors none.
TEST_P(FileSendTest, ALargeFileToASlowReaderRespectsTheHighWaterMarkNotTheCap) {
  constexpr std::size_t kSize = 24 * 1024 * 1024;
  const std::string content = patternBytes(kSize, 3);
  const std::string path = write("big.bin", content);
  FlowCounts flow;
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    conn->sendFile(open(path), 0, kSize);
  };
  flow.countInto(cb);
  ServerOptions o = testServerOptions();
  o.highWaterMark = 1 << 20;
  o.maxOutputBytes = 512 << 10;
  auto server = startServer(cb, o);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  ASSERT_TRUE(eventually([&] { return flow.highWater.load() >= 1; }));
  EXPECT_GE(flow.pendingAtMark.load(), std::size_t{1} << 20);
  EXPECT_EQ(flow.writeComplete.load(), 0) << "the file cannot be out: the peer has not read it";
  // The peer reads it all now, slowly at first.
  std::string got = client.recvExactly(64 * 1024, 30000);
  got += client.recvExactly(kSize - got.size(), 30000);
  ASSERT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == content) << "bytes reordered or changed";
  EXPECT_TRUE(eventually([&] { return flow.writeComplete.load() == 1; }))
      << "onWriteComplete: " << flow.writeComplete.load();
  EXPECT_EQ(flow.highWater.load(), 1);
  EXPECT_EQ(outputOverflows(*server), 0u) << "file bytes were counted as memory";
  EXPECT_EQ(server->server().connectionCount(), 1u);
}

// The connection holds its files only while it needs them: one sent whole
// is let go at once, and a connection that closes in the middle of a file
// (with another queued behind it) lets both go. The fixture then checks
// that every descriptor is closed.
TEST_P(FileSendTest, FilesAreLetGoWhenSentAndWhenTheConnectionCloses) {
  const std::string content = patternBytes(16 * 1024 * 1024, 4);
  const std::string path = write("f.bin", content);
  // Set on the loop thread, looked at from the test's.
  std::mutex mutex;
  std::weak_ptr<const UniqueFd> sentWhole, cutShort, queued;
  auto expired = [&](const std::weak_ptr<const UniqueFd>& file) {
    std::lock_guard lock(mutex);
    return file.expired();
  };
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    const std::string request = in.retrieveAllAsString();
    std::lock_guard lock(mutex);
    if (request == "small") {
      SharedFd file = open(path);
      sentWhole = file;
      conn->sendFile(std::move(file), 0, 1000);
    } else {
      SharedFd first = open(path);
      SharedFd second = open(path);
      cutShort = first;
      queued = second;
      conn->sendFile(std::move(first), 0, content.size());
      conn->sendFile(std::move(second), 0, content.size());
    }
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  {
    RawClient client(server->address());
    ASSERT_TRUE(client.sendAll("small"));
    EXPECT_EQ(client.recvExactly(1000), content.substr(0, 1000));
    EXPECT_TRUE(eventually([&] { return expired(sentWhole); }))
        << "a file sent whole is still held";
  }
  {
    RawClient client(server->address());
    ASSERT_TRUE(client.sendAll("large"));
    EXPECT_EQ(client.recvExactly(4096), content.substr(0, 4096));
    EXPECT_FALSE(expired(queued)) << "the second file cannot have been sent yet";
    client.reset();
  }
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  EXPECT_TRUE(eventually([&] { return expired(cutShort) && expired(queued); }))
      << "a closed connection still holds its files";
}

// A file shorter than the length given (it shrank after its size was taken)
// cannot keep the promise made to the peer: that connection is cut, with a
// log line saying why, and the others on the same loop go on being served.
TEST_P(FileSendTest, AFileShorterThanPromisedCutsOnlyItsConnection) {
  const std::string content = patternBytes(1000, 5);
  const std::string path = write("short.bin", content);
  ConnectionCallbacks cb = echoCallbacks();
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    if (in.view() == "short") {
      in.retrieveAll();
      conn->sendFile(open(path), 0, 5000);
      conn->send("never");  // behind the file: never sent
      return;
    }
    conn->send(in.view());
    in.retrieveAll();
  };
  auto server = startServer(cb);  // one loop: the connections share it
  ASSERT_TRUE(server->ok());
  RawClient other(server->address());
  ASSERT_TRUE(other.echo("before"));
  RawClient victim(server->address());
  ASSERT_TRUE(victim.sendAll("short"));
  const std::string got = victim.recvUntilClosed(10000);
  EXPECT_TRUE(victim.waitClosed(1)) << "the connection was not cut";
  EXPECT_LE(got.size(), content.size());
  EXPECT_EQ(got, content.substr(0, got.size())) << "what did arrive must be the file's own bytes";
  EXPECT_TRUE(other.echo("after")) << "the other connection stopped being served";
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 1; }));
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(FileSendTest);

}  // namespace
}  // namespace duet::test
