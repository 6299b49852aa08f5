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
//
// Every Connection has one, and nearly all of them never hold anything, so
// the queue exists only while it holds something. An empty std::deque is not
// free: libstdc++ allocates its map and a first 512-byte block when it is
// constructed. Held directly, that was ~750 bytes of every idle connection
// (RSS per idle connection went from 461 to 1,215 bytes on epoll between
// docs/results/2026-11-30-full-2 and -full-3; IdleMemoryTest).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
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
  bool empty() const { return !items_; }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t fileBytes() const { return fileBytes_; }

  void append(std::string_view data) {
    // Consecutive sends join one string: a file followed by many small
    // replies holds one item, not one per reply.
    if (items_ && std::holds_alternative<std::string>(items_->back())) {
      std::get<std::string>(items_->back()).append(data);
    } else {
      queue().emplace_back(std::string(data));
    }
    bytes_ += data.size();
  }
  void append(FileRange file) {
    fileBytes_ += file.length;
    queue().emplace_back(std::move(file));
  }

  bool frontIsFile() const { return std::holds_alternative<FileRange>(items_->front()); }
  std::string takeFrontBytes() {
    std::string out = std::move(std::get<std::string>(items_->front()));
    popFront();
    bytes_ -= out.size();
    return out;
  }
  FileRange takeFrontFile() {
    FileRange out = std::move(std::get<FileRange>(items_->front()));
    popFront();
    fileBytes_ -= out.length;
    return out;
  }
  void clear() {
    items_.reset();
    bytes_ = 0;
    fileBytes_ = 0;
  }

 private:
  using Item = std::variant<std::string, FileRange>;

  std::deque<Item>& queue() {
    if (!items_) items_ = std::make_unique<std::deque<Item>>();
    return *items_;
  }
  void popFront() {
    items_->pop_front();
    if (items_->empty()) items_.reset();  // an idle connection keeps no queue
  }

  std::unique_ptr<std::deque<Item>> items_;  // null while nothing is held
  std::size_t bytes_ = 0;
  std::uint64_t fileBytes_ = 0;
};

}  // namespace duet
