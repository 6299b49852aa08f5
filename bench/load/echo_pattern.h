// The contents of echo messages: byte i of message `seq` on connection `conn`
// is a pure function of the three, so the receiver can check an echo without
// keeping a copy of what it sent.
//
// The load generator must cost less per message than the server it measures,
// or the throughput it reports is its own. At 256 KiB a message, writing the
// pattern out before every send (again for the part a short write left) and
// again before every check cost duet-load more CPU per message than the
// servers spent, so it was the bottleneck. EchoPattern keeps the pattern laid
// out once: a message's bytes after its 8-byte key are one contiguous run of
// that layout, which the sender hands to writev and the checker compares in
// place.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace duetload {

// Writes bytes [off, off+len) of message (conn, seq) into dst: the pattern's
// definition, written out byte by byte. duet-load itself sends and checks with
// EchoPattern, which never copies; the tests hold EchoPattern to this.
void fillMessage(char* dst, uint32_t conn, uint64_t seq, size_t off, size_t len);

class EchoPattern {
 public:
  // Runs of up to `longestRun` bytes can be pointed at (the most one call sends or checks).
  explicit EchoPattern(size_t longestRun);

  // Whether the bytes at p are bytes [off, off+len) of message (conn, seq). Writes nothing.
  bool matches(const char* p, uint32_t conn, uint64_t seq, size_t off, size_t len) const;

  // Bytes [off, off+len) of message (conn, seq) as at most two iovecs, appended to `out`:
  // the part of the key (kept in *key, which must outlive the iovecs) and a run of the layout.
  void appendIovecs(std::vector<iovec>& out, uint64_t* key, uint32_t conn, uint64_t seq, size_t off,
                    size_t len) const;

  static constexpr size_t kKeyBytes = 8;

 private:
  // Where bytes [off, ...) of the message whose key is `key` start in layout_ (off >= kKeyBytes).
  const char* bodyAt(uint64_t key, size_t off) const;

  size_t longestRun_;
  std::vector<char> layout_;  // the 251-byte table repeated to longestRun_ + 251 bytes
};

}  // namespace duetload
