// What every acceptor does when accept fails because the process (EMFILE) or
// the system (ENFILE) is out of descriptors: shed the pending connection.
//
// Why shed rather than wait: the connection stays in the listen backlog, its
// client waits with no answer, and the backlog fills. Closing it at once gives
// the client a clean, immediate failure and keeps the backlog for the time
// descriptors are back. To accept it at all we need one free descriptor, so a
// spare is kept open on /dev/null: close the spare, accept into its slot,
// close that, reopen the spare (the libev/muduo recipe).
//
// One policy for both backends: the reactor sheds when its accept4 fails, the
// proactor when its accept completion carries the error; both count the error
// (LoopStats::acceptErrors) and each connection shed (LoopStats::acceptShed),
// log once per burst, and wait for the next connection without spinning.
// Loop thread only.
#pragma once

#include "core/loop_stats.h"
#include "core/socket_ops.h"

namespace duet {

class AcceptShedding {
 public:
  AcceptShedding();

  // The accept error says descriptors ran out (EMFILE, ENFILE, or kernel memory).
  static bool isOutOfDescriptors(int error);

  // An accept failed with `error`, one of isOutOfDescriptors(): counted in
  // acceptErrors, and logged once per burst (not once per connection).
  // Note that out of descriptors accept fails even with an empty backlog: the
  // kernel takes a descriptor number before it looks for a connection.
  void noteOutOfDescriptors(int error, LoopStats& stats);

  // The accept failed with `error` after the kernel had already taken the
  // connection and closed it (io_uring direct descriptors: the socket table
  // was full, ENFILE). Counted like noteOutOfDescriptors() plus one shed, and
  // logged once per burst; nothing is left in the backlog to shed.
  void noteShedByKernel(int error, LoopStats& stats);

  enum class Shed {
    One,           // a pending connection was accepted and closed (acceptShed): look for more
    BacklogEmpty,  // nobody was waiting: wait for the next connection
    Failed,        // no spare, or its slot was taken meanwhile: wait a moment, do not spin
  };
  // Accepts one pending connection of `listenFd` through the spare descriptor
  // and closes it at once.
  Shed shedOne(int listenFd, LoopStats& stats);

  // An accept succeeded: ends a burst (with a line saying how many were shed).
  void noteAccepted();

  // After a wait: get the spare back if shedOne() could not reopen it.
  void reopenSpareIfMissing();

 private:
  void openSpare();

  UniqueFd spare_;
  bool inBurst_ = false;  // between the first shortage and the next successful accept
  unsigned shedInBurst_ = 0;
};

}  // namespace duet
