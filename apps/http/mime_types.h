// Content-Type by file extension: a small table of what a static site serves.
#pragma once

#include <string_view>

namespace duet::http {

// E.g. "index.html" -> "text/html; charset=utf-8". Case-insensitive on the
// extension; application/octet-stream when unknown (the browser then offers a
// download instead of guessing, which is the safe default).
std::string_view mimeTypeForPath(std::string_view path);

}  // namespace duet::http
