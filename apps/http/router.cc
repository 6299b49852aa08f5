#include "apps/http/router.h"

namespace duet::http {

namespace {

enum : unsigned { kGet = 1, kHead = 2, kPost = 4, kOptions = 8 };

unsigned methodBit(Method m) {
  switch (m) {
    case Method::Get:
      return kGet;
    case Method::Head:
      return kHead;
    case Method::Post:
      return kPost;
    case Method::Options:
      return kOptions;
    default:
      return 0;
  }
}

std::string allowHeader(unsigned allowed) {
  std::string s;
  auto add = [&](unsigned bit, std::string_view name) {
    if (!(allowed & bit)) return;
    if (!s.empty()) s += ", ";
    s += name;
  };
  add(kGet, "GET");
  add(kHead, "HEAD");
  add(kPost, "POST");
  add(kOptions, "OPTIONS");
  return s;
}

HttpResponse okText(std::string_view contentType, std::string body) {
  HttpResponse r;
  r.contentType = contentType;
  r.body = std::move(body);
  return r;
}

}  // namespace

Router::Router(RouterOptions options) : options_(std::move(options)) {
  if (!options_.root.empty())
    files_ = std::make_unique<StaticFiles>(options_.root, options_.inlineFileLimit,
                                           options_.readFromForTesting);
}

HttpResponse Router::handle(const HttpRequest& request) const {
  if (request.method == Method::Other) return errorResponse(501);
  // CONNECT asks for a tunnel (RFC 9110 9.3.6): a proxy's job, not ours.
  if (request.method == Method::Connect) return errorResponse(501);

  // "OPTIONS *" asks about the server as a whole (RFC 9110 9.3.7).
  if (request.target == "*") {
    if (request.method != Method::Options) return errorResponse(400);
    HttpResponse r;
    r.status = 204;
    r.addHeader("Allow", allowHeader(kGet | kHead | kPost | kOptions));
    return r;
  }
  const std::string_view path = request.path();
  // The parser hands over origin-form (an absolute-form target reduced to its
  // path), so anything else here is a bug, not a client's mistake.
  if (path.empty() || path.front() != '/') return errorResponse(400);

  unsigned allowed = 0;
  enum class Route { Hello, Stats, Echo, Static, None } route = Route::None;
  if (path == "/hello") {
    route = Route::Hello;
    allowed = kGet | kHead | kOptions;
  } else if (path == "/stats") {
    route = Route::Stats;
    allowed = kGet | kHead | kOptions;
  } else if (path == "/echo") {
    route = Route::Echo;
    allowed = kPost | kOptions;
  } else if (files_) {
    route = Route::Static;
    allowed = kGet | kHead | kOptions;
  } else {
    return errorResponse(404);
  }

  if (request.method == Method::Options) {
    HttpResponse r;
    r.status = 204;
    r.addHeader("Allow", allowHeader(allowed));
    return r;
  }
  if (!(methodBit(request.method) & allowed)) {
    HttpResponse r = errorResponse(405);
    r.addHeader("Allow", allowHeader(allowed));
    return r;
  }

  switch (route) {
    case Route::Hello:
      return okText("text/plain; charset=utf-8", std::string(kHelloBody));
    case Route::Stats:
      return okText("application/json",
                    options_.statsJson ? options_.statsJson() : std::string("{}"));
    case Route::Echo:
      return okText("application/octet-stream", request.body);
    case Route::Static:
      return files_->serve(request);
    case Route::None:
      break;
  }
  return errorResponse(404);
}

}  // namespace duet::http
