// HeldOutput: what a Connection was asked to send behind a file that is still
// being sent (Connection::sendFile), in the order it was asked for.
//
// Why core holds it and not the backend: a backend's output is a run of bytes
// (the reactor's output_ Buffer, the proactor's send queue). A file range in
// the middle of that run would make every backend a queue of mixed items.
// Instead core hands the backend one thing at a time: bytes, as always, or
// the one file being sent, and keeps what comes after that file here until
// it is done. So a backend's byte path is exactly what it was before files.
//
// Two counts matter to core and are kept here: the bytes held (memory, which
// the output cap limits) and the file bytes held (not in memory: they stay in
// the page cache until sent, so the cap does not count them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/file_read.h"  // SharedFd

namespace duet {

// A range of an open file to send. The SharedFd keeps the descriptor open
// for as long as the range is held or sent (and a read of it in flight).
struct FileRange {
  SharedFd file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // bytes still to send
};

class HeldOutput {
 public:
  bool empty() const { return items_.empty(); }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t fileBytes() const { return fileBytes_; }

  void append(std::string_view data) {
    // Consecutive sends join one string: a file followed by many small
    // replies holds one item, not one per reply.
    if (!items_.empty() && std::holds_alternative<std::string>(items_.back())) {
      std::get<std::string>(items_.back()).append(data);
    } else {
      items_.emplace_back(std::string(data));
    }
    bytes_ += data.size();
  }
  void append(FileRange file) {
    fileBytes_ += file.length;
    items_.emplace_back(std::move(file));
  }

  bool frontIsFile() const { return std::holds_alternative<FileRange>(items_.front()); }
  std::string takeFrontBytes() {
    std::string out = std::move(std::get<std::string>(items_.front()));
    items_.pop_front();
    bytes_ -= out.size();
    return out;
  }
  FileRange takeFrontFile() {
    FileRange out = std::move(std::get<FileRange>(items_.front()));
    items_.pop_front();
    fileBytes_ -= out.length;
    return out;
  }
  void clear() {
    items_.clear();
    bytes_ = 0;
    fileBytes_ = 0;
  }

 private:
  std::deque<std::variant<std::string, FileRange>> items_;
  std::size_t bytes_ = 0;
  std::uint64_t fileBytes_ = 0;
};

}  // namespace duet
