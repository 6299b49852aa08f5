// The contents of echo messages: byte i of message `seq` on connection `conn`
// is a pure function of the three, so the receiver can check an echo without
// keeping a copy of what it sent.
#pragma once

#include <cstddef>
#include <cstdint>

namespace duetload {

// Writes bytes [off, off+len) of message (conn, seq) into dst.
void fillMessage(char* dst, uint32_t conn, uint64_t seq, size_t off, size_t len);

}  // namespace duetload
