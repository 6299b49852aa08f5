// Helpers shared by the HTTP tests: a response parser for what the server
// wrote, a fake Transport (bytes in -> bytes out, no socket), temp dirs.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/http/http_connection.h"
#include "apps/http/http_request.h"

namespace duet::http::test {

struct ParsedResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (equalsIgnoreCase(n, name)) return v;
    }
    return {};
  }
  bool has(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (equalsIgnoreCase(n, name)) return true;
    }
    return false;
  }
};

// Splits `wire` into responses, framing bodies by Content-Length. `noBody[i]`
// marks the i-th final response as the answer to a HEAD. Interim (1xx)
// responses are returned too. *rest receives unparsed trailing bytes.
inline std::vector<ParsedResponse> parseResponses(std::string_view wire,
                                                  const std::vector<bool>& noBody = {},
                                                  std::string* rest = nullptr) {
  std::vector<ParsedResponse> out;
  std::size_t finals = 0;
  while (!wire.empty()) {
    const std::size_t end = wire.find("\r\n\r\n");
    if (end == std::string_view::npos) break;
    std::string_view head = wire.substr(0, end);
    ParsedResponse r;
    const std::size_t lineEnd = head.find("\r\n");
    const std::string_view statusLine = head.substr(0, lineEnd);
    if (!statusLine.starts_with("HTTP/1.1 ") || statusLine.size() < 12) break;
    r.status = std::atoi(std::string(statusLine.substr(9, 3)).c_str());
    std::string_view fields =
        lineEnd == std::string_view::npos ? std::string_view{} : head.substr(lineEnd + 2);
    while (!fields.empty()) {
      const std::size_t e = fields.find("\r\n");
      const std::string_view line = fields.substr(0, e);
      const std::size_t colon = line.find(':');
      r.headers.emplace_back(std::string(line.substr(0, colon)),
                             std::string(trimWhitespace(line.substr(colon + 1))));
      if (e == std::string_view::npos) break;
      fields.remove_prefix(e + 2);
    }
    std::size_t bodyLen = 0;
    const bool interim = r.status < 200;
    const bool head_ = !interim && finals < noBody.size() && noBody[finals];
    if (!interim && !head_ && r.status != 204 && r.status != 304 && r.has("content-length")) {
      bodyLen = std::stoull(r.header("content-length"));
    }
    if (wire.size() < end + 4 + bodyLen) break;
    r.body = std::string(wire.substr(end + 4, bodyLen));
    wire.remove_prefix(end + 4 + bodyLen);
    if (!interim) ++finals;
    out.push_back(std::move(r));
  }
  if (rest) *rest = std::string(wire);
  return out;
}

// Bytes in, bytes out: HttpConnection's view of a socket, in memory.
class FakeTransport final : public Transport {
 public:
  Buffer in;
  std::string out;
  std::size_t pending = 0;  // output "not yet taken by the kernel"
  bool holdOutput = false;  // true: sends accumulate in `pending` until drain()
  bool shutdownCalled = false;
  bool forceClosed = false;
  bool reading = true;
  int stopReadingCalls = 0;
  int startReadingCalls = 0;
  std::vector<std::function<void()>> deferred;
  TimePoint clock = TimePoint{} + std::chrono::hours(1);

  Buffer& input() override { return in; }
  void send(std::string&& bytes) override {
    EXPECT_FALSE(shutdownCalled) << "send after shutdown";
    EXPECT_FALSE(forceClosed) << "send after forceClose";
    out += bytes;
    if (holdOutput) pending += bytes.size();
  }
  std::size_t pendingOutputBytes() const override { return pending; }
  void shutdown() override { shutdownCalled = true; }
  void forceClose() override { forceClosed = true; }
  void stopReading() override {
    reading = false;
    ++stopReadingCalls;
  }
  void startReading() override {
    reading = true;
    ++startReadingCalls;
  }
  void defer(std::function<void()> task) override { deferred.push_back(std::move(task)); }
  TimePoint now() const override { return clock; }
  std::string_view date() override { return "Sun, 06 Nov 1994 08:49:37 GMT"; }  // held still
  std::string peerName() const override { return "test"; }
  // Set: file reads go here instead of the default pread (a test fails them,
  // or holds them to complete later).
  std::function<void(const SharedFd&, std::uint64_t, std::size_t, FileReadCallback)> readFileHook;
  void readFile(const SharedFd& file, std::uint64_t offset, std::size_t length,
                FileReadCallback done) override {
    if (readFileHook) {
      readFileHook(file, offset, length, std::move(done));
    } else {
      Transport::readFile(file, offset, length, std::move(done));
    }
  }

  // The kernel took everything: what Connection reports with onWriteComplete.
  void drain(HttpConnection& http) {
    const bool had = pending > 0;
    pending = 0;
    if (had) http.onWriteComplete();
  }
  // Runs deferred turns and drains output until nothing moves (a fast client).
  void runUntilQuiet(HttpConnection& http) {
    for (int i = 0; i < 1000000 && (!deferred.empty() || pending > 0); ++i) {
      auto tasks = std::move(deferred);
      deferred.clear();
      for (auto& t : tasks) t();
      drain(http);
    }
  }
};

// A fresh directory under TMPDIR, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "duet-http-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& relative, const std::string& content) const {
    const auto p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace duet::http::test
