// Mapping a request path to a file under the document root, and nothing else.
//
// Two independent fences, because each alone has known holes:
//   1. Lexical: the path is percent-decoded exactly once and refused if it
//      holds a NUL byte, a malformed escape, or a ".." segment (so "%2e%2e",
//      "..%2f" and friends are caught after decoding, where they become "..").
//   2. Physical: the candidate is resolved with realpath(3), which follows
//      every symlink, and must still lie under the root's own realpath. A
//      symlink inside the root that points outside is therefore refused.
// The final open uses O_NOFOLLOW on the resolved name: if someone swaps a
// symlink in after the check, the open fails instead of following it.
// (openat2(RESOLVE_BENEATH) would close the remaining race on the directories
// in between; it is Linux-only and not in glibc 2.36's headers, so we keep
// the portable scheme and document the race: it needs a local attacker with
// write access inside the root.)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace duet::http {

// Percent-decodes a URL path. nullopt on a malformed escape ("%4", "%zz") or
// an encoded or raw NUL byte.
std::optional<std::string> percentDecodePath(std::string_view raw);

class DocumentRoot {
 public:
  // `root` must exist; it is resolved once here (realpath). valid() is false
  // if it cannot be.
  explicit DocumentRoot(const std::string& root);
  bool valid() const { return !root_.empty(); }
  const std::string& path() const { return root_; }

  struct Resolved {
    int status = 0;    // 0: ok; else 400 (malformed), 403 (outside the root), 404
    std::string path;  // the real path, under the root, when status is 0
  };
  // `rawPath`: the request's path, still percent-encoded, starting with '/'.
  Resolved resolve(std::string_view rawPath) const;
  // For a path already known to be under the root (a directory's index file):
  // realpath it again and check it is still under the root.
  Resolved resolveReal(const std::string& candidate) const;

 private:
  bool isUnderRoot(const std::string& real) const;
  std::string root_;  // realpath of the root, no trailing slash (unless it is "/")
};

}  // namespace duet::http
