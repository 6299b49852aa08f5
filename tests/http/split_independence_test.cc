// Every committed fuzz reproducer (tests/fuzz/known) and corpus file
// (tests/fuzz/corpus/http), replayed through HttpConnection whole, byte by
// byte and in many random splits with the output drained at random moments:
// the responses must be the same bytes every time (Date values and interim
// 100 responses aside). This is the fuzz harness's own rule
// (tests/fuzz/http_replay.h), run on every build: the fuzz target itself is
// built only by the clang stage. The timed replay (timers between pieces) is
// checked for well-formed output, the fuzz target's other rule for it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "http_test_util.h"
#include "tests/fuzz/http_replay.h"

namespace duet::http {
namespace {

using replay::Run;

// The source tree, found from this file's own path (CMake compiles it by
// absolute path), so the test reads the committed files wherever it is built.
std::filesystem::path fuzzDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fuzz";
}

std::vector<std::filesystem::path> inputsUnder(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The document root the fuzz target serves (tests/fuzz/http_fuzz.cc), minus
// the secret: traversal is not what this test checks.
class SplitIndependence : public ::testing::TestWithParam<std::filesystem::path> {
 protected:
  SplitIndependence()
      : inline_(
            RouterOptions{.root = root().string(), .statsJson = {}, .inlineFileLimit = 64 * 1024}),
        stream_(RouterOptions{.root = root().string(), .statsJson = {}, .inlineFileLimit = 16}) {}

  std::filesystem::path root() {
    if (!made_) {
      dir_.write("root/index.html", "<h1>hello</h1>\n");
      dir_.write("root/a.txt", std::string(300, 'a'));
      dir_.write("root/sub/b.css", "body{}\n");
      dir_.write("root/sub/index.html", "sub\n");
      made_ = true;
    }
    return dir_.path() / "root";
  }

  test::TempDir dir_;
  bool made_ = false;
  Router inline_;
  Router stream_;
};

TEST_P(SplitIndependence, SameResponsesWholeByteByByteAndInRandomSplits) {
  const std::string data = readFile(GetParam());
  ASSERT_FALSE(data.empty());
  const std::uint8_t config = static_cast<std::uint8_t>(data[0]);
  const std::string_view input = std::string_view(data).substr(1);
  const replay::FailFn fail = [](const std::string& what) { ADD_FAILURE() << what; };
  const replay::Routers routers{&inline_, &stream_};

  const std::string whole =
      replay::normalize(replay::runOnce(input, config, Run::Whole, config, routers, fail).wire);
  EXPECT_EQ(replay::normalize(
                replay::runOnce(input, config, Run::ByteByByte, config, routers, fail).wire),
            whole)
      << "byte by byte";
  for (std::uint32_t seed = 0; seed < 64; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::string split =
        replay::normalize(replay::runOnce(input, config, Run::Split, seed, routers, fail).wire);
    ASSERT_EQ(split, whole);
  }
}

// The timed replay (the clock jumps and timer turns run between pieces) is
// not compared with the others: a timeout legitimately changes the answer.
// But what it sends is still a sequence of well-formed responses, with the
// seed the fuzz target uses (the configuration byte) and 64 more; the last
// body may be cut short only by the send timeout, after the peer read nothing
// for that long (runOnce checks that: tests/fuzz/http_replay.h).
TEST_P(SplitIndependence, WellFormedResponsesWhenTimersRunBetweenPieces) {
  const std::string data = readFile(GetParam());
  ASSERT_FALSE(data.empty());
  const std::uint8_t config = static_cast<std::uint8_t>(data[0]);
  const std::string_view input = std::string_view(data).substr(1);
  const replay::FailFn fail = [](const std::string& what) { ADD_FAILURE() << what; };
  const replay::Routers routers{&inline_, &stream_};

  std::vector<std::uint32_t> seeds{config};
  for (std::uint32_t seed = 0; seed < 64; ++seed) seeds.push_back(seed);
  for (const std::uint32_t seed : seeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    replay::checkWellFormed(replay::runOnce(input, config, Run::Timers, seed, routers, fail), fail);
  }
}

std::string fileParamName(const ::testing::TestParamInfo<std::filesystem::path>& info) {
  std::string name =
      info.param.parent_path().filename().string() + "_" + info.param.filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Known, SplitIndependence,
                         ::testing::ValuesIn(inputsUnder(fuzzDir() / "known")), fileParamName);
INSTANTIATE_TEST_SUITE_P(Corpus, SplitIndependence,
                         ::testing::ValuesIn(inputsUnder(fuzzDir() / "corpus" / "http")),
                         fileParamName);

}  // namespace
}  // namespace duet::http
