// SocketHandle: a connected socket as core holds it, whichever way the
// backend keeps it.
//
// Usually the socket is a file descriptor in the process's table (a UniqueFd).
// A backend may instead keep it in a table of its own, where the process sees
// no descriptor at all: io_uring's "direct descriptors" live only in the
// ring's fixed-file table, and every operation names them by slot. Core must
// still own such a socket (one owner: the Connection closes it, once), so the
// handle holds either a descriptor or a slot plus the SocketSlots interface of
// the backend table that can close it. Core never looks inside a slot: it only
// asks the table to close it.
//
// The handle shares ownership of the table object: a Connection may outlive
// its loop (whoever holds a ConnectionPtr), and the table must then still be
// there to be told (a backend's table object outlives the backend's loop and
// knows when there is nothing left to close).
//
// Move-only, like UniqueFd; destroying an open handle closes the socket.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "core/socket_ops.h"

namespace duet {

// A backend's own socket table (implemented by the backend, e.g. UringLoop).
class SocketSlots {
 public:
  // Closes the socket in `slot` and frees the slot. `abortive`: reset the
  // connection (SO_LINGER 0) instead of a graceful close, where the backend can.
  virtual void closeSlot(std::uint32_t slot, bool abortive) = 0;
  virtual ~SocketSlots() = default;
};

class SocketHandle {
 public:
  SocketHandle() = default;
  // A descriptor (implicit: every socket was one before slots existed).
  SocketHandle(UniqueFd fd) : fd_(std::move(fd)) {}  // NOLINT(google-explicit-constructor)
  // A socket in `table`'s slot `slot`.
  SocketHandle(std::shared_ptr<SocketSlots> table, std::uint32_t slot)
      : table_(std::move(table)), slot_(slot) {}
  SocketHandle(SocketHandle&& other) noexcept
      : fd_(std::move(other.fd_)), table_(std::move(other.table_)), slot_(other.slot_) {}
  SocketHandle& operator=(SocketHandle&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::move(other.fd_);
      table_ = std::move(other.table_);
      slot_ = other.slot_;
    }
    return *this;
  }
  SocketHandle(const SocketHandle&) = delete;
  SocketHandle& operator=(const SocketHandle&) = delete;
  ~SocketHandle() { close(); }

  explicit operator bool() const { return static_cast<bool>(fd_) || table_ != nullptr; }
  // The descriptor, or -1 when the socket is closed or lives in a slot.
  int fd() const { return fd_.get(); }
  bool isSlot() const { return table_ != nullptr; }
  // The slot; meaningful only when isSlot().
  std::uint32_t slot() const { return slot_; }
  // Gives up the descriptor to the caller (empty if the handle holds a slot,
  // which stays here).
  UniqueFd takeDescriptor() { return std::move(fd_); }
  // Gives up the slot to the caller, who closes it (the backend, when it
  // hands the socket to another table). The handle is then empty.
  std::uint32_t releaseSlot() {
    table_.reset();
    return slot_;
  }

  // Closes the socket (no-op when closed). A slot goes back to its table; a
  // descriptor is closed here, after SO_LINGER 0 when `abortive`.
  void close(bool abortive = false);

 private:
  UniqueFd fd_;
  std::shared_ptr<SocketSlots> table_;  // set only while a slot is held
  std::uint32_t slot_ = 0;
};

}  // namespace duet
