// Router: picks the handler for a request and applies the method rules.
//
//   /hello   GET HEAD      a fixed small body: the benchmark route
//   /stats   GET HEAD      every loop's counters as JSON
//   /echo    POST          the request body back (exercises request bodies)
//   *        GET HEAD      static files under --root (404 without a root)
//   OPTIONS  any route     204 with Allow ("OPTIONS *": what the server supports)
//
// A method RFC 9110 defines but the route does not take is 405 with Allow; a
// method outside RFC 9110 (WebDAV, RTSP, ...) is 501 Not Implemented, and so
// is CONNECT (we are no proxy).
//
// Handlers are synchronous and cheap: they run on the connection's loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "apps/http/http_request.h"
#include "apps/http/http_response.h"
#include "apps/http/static_files.h"

namespace duet::http {

struct RouterOptions {
  std::string root;                         // empty: no static files
  std::function<std::string()> statsJson;   // body of /stats; empty: "{}"
  std::size_t inlineFileLimit = 64 * 1024;  // files up to this are read whole, at once
  ReadFromForTesting readFromForTesting;    // see static_files.h
};

class Router {
 public:
  static constexpr std::string_view kHelloBody = "Hello, world!\n";

  explicit Router(RouterOptions options);
  HttpResponse handle(const HttpRequest& request) const;
  bool hasStaticFiles() const { return files_ != nullptr; }
  const StaticFiles* staticFiles() const { return files_.get(); }

 private:
  RouterOptions options_;
  std::unique_ptr<StaticFiles> files_;
};

}  // namespace duet::http
