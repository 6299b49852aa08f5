#include "core/file_read.h"

#include <unistd.h>

#include <cerrno>

namespace duet {

FileReadResult readFileBlocking(int fd, std::uint64_t offset, std::size_t length) {
  FileReadResult result;
  result.bytes.resize(length);
  std::size_t done = 0;
  bool positioned = true;  // false once pread said the descriptor has no positions
  while (done < length) {
    char* into = result.bytes.data() + done;
    const std::size_t want = length - done;
    ssize_t n = positioned ? ::pread(fd, into, want, static_cast<off_t>(offset + done))
                           : ::read(fd, into, want);
    if (n < 0 && errno == ESPIPE && positioned) {
      positioned = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result.error = errno;
      result.bytes.clear();
      return result;
    }
    if (n == 0) break;  // end of file
    done += static_cast<std::size_t>(n);
  }
  result.bytes.resize(done);
  return result;
}

}  // namespace duet
