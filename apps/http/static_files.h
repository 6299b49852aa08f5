// Static files from a document root: GET and HEAD, with the parts of HTTP a
// browser and a cache actually use.
//
//   MIME type by extension; index.html for a directory (no listings).
//   Validators: Last-Modified / If-Modified-Since and ETag / If-None-Match,
//     answering 304 Not Modified (If-None-Match wins when both are sent).
//   One byte range (206 Partial Content, 416 when unsatisfiable); several
//     ranges are answered with the whole file (200), which RFC 9110 allows,
//     and If-Range falls back to the whole file when the validator changed.
//   Path safety: see DocumentRoot (path_safety.h).
//
// Files up to the inline limit are read into the response here, on the
// calling thread (duet-http --file-io loop: the old path, kept for
// comparison); the others are handed over as an open fd + range that
// HttpConnection reads with Transport::readFile and sends chunk by chunk.
// The server sets the limit to 0 when reads are asynchronous, so no file
// byte is ever read on the loop thread.
#pragma once

#include <sys/stat.h>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "apps/http/http_request.h"
#include "apps/http/http_response.h"
#include "apps/http/path_safety.h"

namespace duet::http {

// A parsed "Range: bytes=..." for a representation of `size` bytes.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::uint64_t length() const { return last - first + 1; }
};
enum class RangeResult { Ignore, Satisfiable, Unsatisfiable };
// Ignore: absent, malformed or several ranges (serve the whole file).
RangeResult parseRange(std::string_view header, std::uint64_t size, ByteRange* out);

// Tests only: for a file about to be served (its resolved path), a
// descriptor to read the bytes from instead; an empty one keeps the file's
// own. Size, validators and type still come from the file itself. The
// stuck-read test hands back a FIFO, whose read blocks until it writes.
using ReadFromForTesting = std::function<UniqueFd(const std::string& path)>;

class StaticFiles {
 public:
  // Files up to `inlineLimit` bytes are read into memory: one send, no stream state.
  StaticFiles(const std::string& root, std::size_t inlineLimit, ReadFromForTesting readFrom = {});
  bool valid() const { return root_.valid(); }
  const std::string& root() const { return root_.path(); }

  HttpResponse serve(const HttpRequest& request) const;

  // The strong validator we send: size and modification time in nanoseconds.
  static std::string etagFor(const struct stat& st);

 private:
  DocumentRoot root_;
  std::size_t inlineLimit_;
  ReadFromForTesting readFrom_;
};

}  // namespace duet::http
