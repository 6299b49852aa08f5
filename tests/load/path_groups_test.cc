// duet-load --http-mix: parsing PATH:N, and spreading the groups over the
// connection indexes (each load thread takes a contiguous run of them).
#include "path_groups.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace duetload {
namespace {

TEST(PathGroups, ParsesPathAndCount) {
  PathGroup g;
  std::string error;
  ASSERT_TRUE(parseMix("/file-1m.bin:10", g, error)) << error;
  EXPECT_EQ(g.path, "/file-1m.bin");
  EXPECT_EQ(g.connections, 10);
  ASSERT_TRUE(parseMix("/a:b:3", g, error)) << error;  // the count is after the last ':'
  EXPECT_EQ(g.path, "/a:b");
  EXPECT_EQ(g.connections, 3);
}

TEST(PathGroups, RefusesMalformedMixesWithAReason) {
  for (const char* bad : {"/hello", "/hello:", "/hello:x", "/hello:2x", "/hello:0", "/hello:-1",
                          "hello:1", ":1", "/a b:1", "/a\"b:1"}) {
    PathGroup g;
    std::string error;
    EXPECT_FALSE(parseMix(bad, g, error)) << bad;
    EXPECT_NE(error.find("--http-mix"), std::string::npos) << bad << ": " << error;
  }
}

TEST(PathGroups, SpreadGivesEveryGroupItsCountInterleaved) {
  const std::vector<int> two = spreadGroups({{"/a", 2}, {"/b", 2}});
  EXPECT_EQ(two, (std::vector<int>{0, 1, 0, 1}));
  const std::vector<int> spread = spreadGroups({{"/a", 7}, {"/b", 2}, {"/c", 1}});
  ASSERT_EQ(spread.size(), 10u);
  EXPECT_EQ(std::count(spread.begin(), spread.end(), 0), 7);
  EXPECT_EQ(std::count(spread.begin(), spread.end(), 1), 2);
  EXPECT_EQ(std::count(spread.begin(), spread.end(), 2), 1);
  // Each half (one of two load threads) holds one of /b's two connections.
  EXPECT_EQ(std::count(spread.begin(), spread.begin() + 5, 1), 1);
  EXPECT_EQ(std::count(spread.begin() + 5, spread.end(), 1), 1);
}

TEST(PathGroups, OneGroupTakesEveryConnection) {
  EXPECT_EQ(spreadGroups({{"/a", 3}}), (std::vector<int>{0, 0, 0}));
}

}  // namespace
}  // namespace duetload
