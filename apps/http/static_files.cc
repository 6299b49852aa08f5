#include "apps/http/static_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

#include "apps/http/date_cache.h"
#include "apps/http/mime_types.h"
#include "core/file_read.h"

namespace duet::http {

namespace {

bool parseNumber(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
bool etagListMatches(std::string_view list, std::string_view etag) {
  list = trimWhitespace(list);
  if (list == "*") return true;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view candidate = trimWhitespace(list.substr(0, comma));
    if (candidate.starts_with("W/")) candidate.remove_prefix(2);
    if (candidate == etag) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

struct OpenFile {
  UniqueFd fd;
  struct stat st {};
  std::string path;
  int status = 0;
};

// O_NOFOLLOW: the resolved path has no symlink left; if one appears now, it
// was swapped in after our check and we refuse it. O_NONBLOCK: opening a FIFO
// someone left under the root must not block the loop.
OpenFile openChecked(const std::string& path) {
  OpenFile f;
  f.path = path;
  f.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!f.fd) {
    f.status = (errno == ENOENT || errno == ENOTDIR) ? 404 : 403;
    return f;
  }
  if (::fstat(f.fd.get(), &f.st) != 0) f.status = 500;
  return f;
}

}  // namespace

RangeResult parseRange(std::string_view header, std::uint64_t size, ByteRange* out) {
  header = trimWhitespace(header);
  if (!header.starts_with("bytes=")) return RangeResult::Ignore;
  std::string_view spec = trimWhitespace(header.substr(6));
  if (spec.find(',') != std::string_view::npos)
    return RangeResult::Ignore;  // several ranges: whole file
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeResult::Ignore;
  const std::string_view a = trimWhitespace(spec.substr(0, dash));
  const std::string_view b = trimWhitespace(spec.substr(dash + 1));
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (a.empty()) {
    // "-N": the last N bytes.
    std::uint64_t suffix = 0;
    if (!parseNumber(b, &suffix)) return RangeResult::Ignore;
    if (suffix == 0 || size == 0) return RangeResult::Unsatisfiable;
    first = suffix >= size ? 0 : size - suffix;
    last = size - 1;
  } else {
    if (!parseNumber(a, &first)) return RangeResult::Ignore;
    if (b.empty()) {
      last = size ? size - 1 : 0;
    } else {
      if (!parseNumber(b, &last) || last < first) return RangeResult::Ignore;
      if (last >= size) last = size ? size - 1 : 0;  // clamp: "0-999999" of a small file is fine
    }
    if (first >= size) return RangeResult::Unsatisfiable;
  }
  out->first = first;
  out->last = last;
  return RangeResult::Satisfiable;
}

StaticFiles::StaticFiles(const std::string& root, std::size_t inlineLimit,
                         ReadFromForTesting readFrom)
    : root_(root), inlineLimit_(inlineLimit), readFrom_(std::move(readFrom)) {}

std::string StaticFiles::etagFor(const struct stat& st) {
  char buf[64];
  const auto mtimeNs = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
                       static_cast<unsigned long long>(st.st_mtim.tv_nsec);
  const int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx\"",
                              static_cast<unsigned long long>(st.st_size), mtimeNs);
  return std::string(buf, static_cast<std::size_t>(n));
}

HttpResponse StaticFiles::serve(const HttpRequest& request) const {
  DocumentRoot::Resolved resolved = root_.resolve(request.path());
  if (resolved.status != 0) return errorResponse(resolved.status);

  OpenFile file = openChecked(resolved.path);
  if (file.status == 0 && S_ISDIR(file.st.st_mode)) {
    // A directory serves its index.html, which must itself resolve under the root.
    resolved = root_.resolveReal(resolved.path + "/index.html");
    if (resolved.status != 0) return errorResponse(resolved.status);
    file = openChecked(resolved.path);
  }
  if (file.status != 0) return errorResponse(file.status);
  if (!S_ISREG(file.st.st_mode)) return errorResponse(404);  // devices, sockets, FIFOs

  const auto size = static_cast<std::uint64_t>(file.st.st_size);
  const std::string etag = etagFor(file.st);
  const std::string lastModified = formatHttpDate(file.st.st_mtim.tv_sec);

  HttpResponse r;
  r.addHeader("Last-Modified", lastModified);
  r.addHeader("ETag", etag);

  // Conditional GET: If-None-Match takes precedence (RFC 9110 13.2.2).
  const std::string_view ifNoneMatch = request.header("if-none-match");
  bool notModified = false;
  if (!ifNoneMatch.empty()) {
    notModified = etagListMatches(ifNoneMatch, etag);
  } else if (const std::string_view ims = request.header("if-modified-since"); !ims.empty()) {
    if (auto since = parseHttpDate(trimWhitespace(ims)))
      notModified = file.st.st_mtim.tv_sec <= *since;
  }
  if (notModified) {
    r.status = 304;
    return r;
  }

  r.contentType = mimeTypeForPath(resolved.path);
  r.addHeader("Accept-Ranges", "bytes");

  std::uint64_t offset = 0;
  std::uint64_t length = size;
  const std::string_view rangeHeader = request.header("range");
  const std::string_view ifRange = trimWhitespace(request.header("if-range"));
  // If-Range: the range only applies if the client's copy is still current.
  const bool rangeApplies = request.method == Method::Get && !rangeHeader.empty() &&
                            (ifRange.empty() || ifRange == etag || ifRange == lastModified);
  if (rangeApplies) {
    ByteRange range;
    switch (parseRange(rangeHeader, size, &range)) {
      case RangeResult::Ignore:
        break;
      case RangeResult::Unsatisfiable: {
        HttpResponse bad = errorResponse(416);
        bad.addHeader("Content-Range", "bytes */" + std::to_string(size));
        return bad;
      }
      case RangeResult::Satisfiable:
        r.status = 206;
        offset = range.first;
        length = range.length();
        r.addHeader("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                         std::to_string(range.last) + "/" + std::to_string(size));
        break;
    }
  }

  if (readFrom_) {
    if (UniqueFd substitute = readFrom_(resolved.path)) file.fd = std::move(substitute);
  }
  if (length <= inlineLimit_ && request.method != Method::Head) {
    FileReadResult read = readFileBlocking(file.fd.get(), offset, length);
    if (read.error != 0 || read.bytes.size() < length)
      return errorResponse(500);  // read error, or the file shrank
    r.body = std::move(read.bytes);
    return r;
  }
  r.file = FileBody{std::move(file.fd), offset, length};
  return r;
}

}  // namespace duet::http
