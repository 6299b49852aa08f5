#include "apps/http/path_safety.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

namespace duet::http {

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> realPath(const std::string& path, int* error) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) {
    *error = errno;
    return std::nullopt;
  }
  return std::string(real.get());
}
}  // namespace

std::optional<std::string> percentDecodePath(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return std::nullopt;  // truncated escape
      const int hi = hexValue(raw[i + 1]);
      const int lo = hexValue(raw[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

DocumentRoot::DocumentRoot(const std::string& root) {
  int error = 0;
  if (auto real = realPath(root, &error)) {
    root_ = std::move(*real);
  }
}

bool DocumentRoot::isUnderRoot(const std::string& real) const {
  if (root_ == "/") return !real.empty() && real.front() == '/';
  // "/srv/www" must not admit "/srv/www-private": compare up to a separator.
  return real == root_ || (real.size() > root_.size() &&
                           real.compare(0, root_.size(), root_) == 0 && real[root_.size()] == '/');
}

DocumentRoot::Resolved DocumentRoot::resolveReal(const std::string& candidate) const {
  int error = 0;
  auto real = realPath(candidate, &error);
  if (!real) return {error == EACCES ? 403 : 404, {}};
  if (!isUnderRoot(*real)) return {403, {}};
  return {0, std::move(*real)};
}

DocumentRoot::Resolved DocumentRoot::resolve(std::string_view rawPath) const {
  if (!valid()) return {404, {}};
  auto decoded = percentDecodePath(rawPath);
  if (!decoded || decoded->empty() || decoded->front() != '/') return {400, {}};

  // Lexical fence: walk the segments; "." is harmless, ".." is refused even
  // when it would stay inside the root: no legitimate link needs it.
  std::string relative;
  std::string_view rest = *decoded;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") return {403, {}};
    relative += '/';
    relative += segment;
  }
  // Physical fence: follow the symlinks, then check where we landed.
  return resolveReal(root_ + relative);
}

}  // namespace duet::http
