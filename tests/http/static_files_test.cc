// Static files: path safety, MIME types, index.html, validators (304),
// single byte ranges (206/416). Straight calls to StaticFiles/DocumentRoot.
#include "apps/http/static_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "apps/http/date_cache.h"
#include "apps/http/mime_types.h"
#include "http_test_util.h"

namespace duet::http {
namespace {

using test::TempDir;

HttpRequest get(std::string target, std::vector<HttpHeader> headers = {},
                Method method = Method::Get) {
  HttpRequest r;
  r.method = method;
  r.target = std::move(target);
  r.headers = std::move(headers);
  return r;
}

class StaticFilesTest : public ::testing::Test {
 protected:
  StaticFilesTest() {
    outside_.write("secret.txt", "top secret");
    dir_.write("index.html", "<h1>home</h1>");
    dir_.write("docs/index.html", "<h1>docs</h1>");
    dir_.write("a.txt", "0123456789");
    dir_.write("style.CSS", "body{}");
    files_ = std::make_unique<StaticFiles>((dir_.path() / "").string(), 64 * 1024);
  }
  TempDir outside_;
  TempDir dir_;
  std::unique_ptr<StaticFiles> files_;
};

TEST_F(StaticFilesTest, ServesFilesWithMimeTypesAndIndexForDirectories) {
  HttpResponse r = files_->serve(get("/a.txt"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "0123456789");
  EXPECT_EQ(r.contentType, "text/plain; charset=utf-8");
  r = files_->serve(get("/"));
  EXPECT_EQ(r.body, "<h1>home</h1>");
  EXPECT_EQ(r.contentType, "text/html; charset=utf-8");
  r = files_->serve(get("/docs"));
  EXPECT_EQ(r.body, "<h1>docs</h1>");
  r = files_->serve(get("/style.CSS?v=2"));
  EXPECT_EQ(r.contentType, "text/css; charset=utf-8");
  EXPECT_EQ(files_->serve(get("/nope.txt")).status, 404);
  EXPECT_EQ(files_->serve(get("/a%2etxt")).body, "0123456789");  // %2e is '.', decoded once
}

TEST_F(StaticFilesTest, NothingOutsideTheRootIsEverServed) {
  const std::string rel = "../" + outside_.path().filename().string() + "/secret.txt";
  for (const std::string& target :
       {"/" + rel, "/docs/../../" + outside_.path().filename().string() + "/secret.txt",
        std::string("/%2e%2e/") + outside_.path().filename().string() + "/secret.txt",
        std::string("/%2E%2E%2f") + outside_.path().filename().string() + "/secret.txt",
        std::string("/..%2f..%2fetc%2fpasswd"), std::string("/a.txt%00.html"), std::string("/%"),
        std::string("/%zz"), std::string("/docs/%2e%2e/%2e%2e/etc/passwd")}) {
    SCOPED_TRACE(target);
    const HttpResponse r = files_->serve(get(target));
    EXPECT_NE(r.status, 200);
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
    EXPECT_FALSE(r.file.has_value());
  }
}

TEST_F(StaticFilesTest, SymlinksLeadingOutOfTheRootAreRefused) {
  ASSERT_EQ(::symlink((outside_.path() / "secret.txt").c_str(), (dir_.path() / "link.txt").c_str()),
            0);
  ASSERT_EQ(::symlink(outside_.path().c_str(), (dir_.path() / "linkdir").c_str()), 0);
  ASSERT_EQ(::symlink((dir_.path() / "a.txt").c_str(), (dir_.path() / "inside.txt").c_str()), 0);
  EXPECT_EQ(files_->serve(get("/link.txt")).status, 403);
  EXPECT_EQ(files_->serve(get("/linkdir/secret.txt")).status, 403);
  EXPECT_EQ(files_->serve(get("/inside.txt")).body, "0123456789");  // inside the root: fine
}

TEST_F(StaticFilesTest, RootPrefixIsComparedUpToASeparator) {
  // "/tmp/x" must not admit "/tmp/x-evil".
  const std::filesystem::path evil = dir_.path().string() + "-evil";
  std::filesystem::create_directories(evil);
  std::ofstream(evil / "f.txt") << "evil";
  const std::string target = "/../" + evil.filename().string() + "/f.txt";
  EXPECT_NE(files_->serve(get(target)).status, 200);
  DocumentRoot root(dir_.path().string());
  EXPECT_EQ(root.resolveReal((evil / "f.txt").string()).status, 403);
  std::filesystem::remove_all(evil);
}

TEST_F(StaticFilesTest, ConditionalRequestsGet304) {
  const HttpResponse first = files_->serve(get("/a.txt"));
  std::string etag, lastModified;
  for (std::string_view headers = first.headers; !headers.empty();) {
    const std::size_t e = headers.find("\r\n");
    const std::string_view line = headers.substr(0, e);
    if (line.starts_with("ETag: ")) etag = line.substr(6);
    if (line.starts_with("Last-Modified: ")) lastModified = line.substr(15);
    headers.remove_prefix(e + 2);
  }
  ASSERT_FALSE(etag.empty());
  ASSERT_FALSE(lastModified.empty());
  EXPECT_EQ(files_->serve(get("/a.txt", {{"If-None-Match", etag}})).status, 304);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"If-None-Match", "\"other\", W/" + etag}})).status, 304);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"If-None-Match", "\"other\""}})).status, 200);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"If-Modified-Since", lastModified}})).status, 304);
  EXPECT_EQ(
      files_->serve(get("/a.txt", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}})).status,
      200);
  // If-None-Match wins over If-Modified-Since.
  EXPECT_EQ(files_
                ->serve(get("/a.txt",
                            {{"If-None-Match", "\"other\""}, {"If-Modified-Since", lastModified}}))
                .status,
            200);
  // If-Range with a stale validator: the whole file, not the range.
  const HttpResponse stale =
      files_->serve(get("/a.txt", {{"Range", "bytes=0-1"}, {"If-Range", "\"stale\""}}));
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "bytes=0-1"}, {"If-Range", etag}})).status, 206);
}

TEST_F(StaticFilesTest, SingleByteRanges) {
  HttpResponse r = files_->serve(get("/a.txt", {{"Range", "bytes=2-4"}}));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "234");
  EXPECT_NE(r.headers.find("Content-Range: bytes 2-4/10\r\n"), std::string::npos);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "bytes=7-"}})).body, "789");
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "bytes=-3"}})).body, "789");
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "bytes=5-100"}})).body, "56789");
  r = files_->serve(get("/a.txt", {{"Range", "bytes=10-"}}));
  EXPECT_EQ(r.status, 416);
  EXPECT_NE(r.headers.find("Content-Range: bytes */10\r\n"), std::string::npos);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "bytes=0-1,3-4"}})).status,
            200);  // several: whole file
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "lines=1-2"}})).status, 200);
  EXPECT_EQ(files_->serve(get("/a.txt", {{"Range", "bytes=0-1"}}, Method::Head)).status,
            200);  // only GET
}

TEST(ParseRange, EdgeCases) {
  ByteRange r;
  EXPECT_EQ(parseRange("bytes=0-0", 1, &r), RangeResult::Satisfiable);
  EXPECT_EQ(r.length(), 1u);
  EXPECT_EQ(parseRange("bytes=-0", 10, &r), RangeResult::Unsatisfiable);
  EXPECT_EQ(parseRange("bytes=-20", 10, &r), RangeResult::Satisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(parseRange("bytes=5-2", 10, &r), RangeResult::Ignore);
  EXPECT_EQ(parseRange("bytes=x-2", 10, &r), RangeResult::Ignore);
  EXPECT_EQ(parseRange("bytes=0-", 0, &r), RangeResult::Unsatisfiable);
}

TEST(MimeTypes, ByExtension) {
  EXPECT_EQ(mimeTypeForPath("/a/b.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(mimeTypeForPath("x.png"), "image/png");
  EXPECT_EQ(mimeTypeForPath("x.tar.gz"), "application/gzip");
  EXPECT_EQ(mimeTypeForPath("Makefile"), "application/octet-stream");
  EXPECT_EQ(mimeTypeForPath("/dir.d/.hidden"), "application/octet-stream");
}

TEST(PercentDecode, Rules) {
  EXPECT_EQ(percentDecodePath("/a%20b"), "/a b");
  EXPECT_FALSE(percentDecodePath("/a%00"));
  EXPECT_FALSE(percentDecodePath("/a%2"));
  EXPECT_FALSE(percentDecodePath("/a%g0"));
  EXPECT_FALSE(percentDecodePath(std::string_view("/a\0b", 4)));
}

}  // namespace
}  // namespace duet::http
