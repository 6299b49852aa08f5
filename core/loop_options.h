// Knobs of one event loop. Plain data in three parts: what every loop reads
// (LoopOptions' own fields), what only a reactor reads (ReactorOptions) and
// what only io_uring reads (UringOptions). core/ stores them; each backend
// reads the common part and its own.
#pragma once

#include <chrono>
#include <cstddef>

#include "core/backend.h"

namespace duet {

// How io_uring runs the kernel-side completion work ("task work"). On this class
// of machine it is the biggest single factor in the proactor's cost: without
// COOP or DEFER the kernel interrupts the loop thread for every completion.
enum class UringTaskRun {
  Auto,   // DEFER_TASKRUN+SINGLE_ISSUER if the kernel has it, else COOP, else plain
  Defer,  // IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (fail if missing)
  Coop,   // IORING_SETUP_COOP_TASKRUN (+TASKRUN_FLAG)
  Plain,  // no flag: the classic ring, for comparison
};

// How another thread wakes a loop (queueInLoop, quit).
enum class UringWakeup {
  EventFd,  // write an eventfd whose read is armed on the ring: works from any thread
  MsgRing,  // IORING_OP_MSG_RING from the sender's own ring when it has one, else eventfd
};

// A switch for a kernel feature some kernels lack. Auto uses it where the
// kernel has it; On demands it (the loop's constructor throws
// BackendUnavailable naming the kernel version it needs); Off never uses it.
enum class KernelFeature { Auto, On, Off };

// Knobs only a reactor (epoll, poll, select) reads; io_uring ignores them.
struct ReactorOptions {
  bool edgeTriggered = false;  // epoll only: EPOLLET instead of level-triggered
  // Reactor: output sent while a connection handles one read (its onMessage,
  // e.g. 16 pipelined responses) is gathered and written with one system call
  // when the handler returns, instead of one write per send(). On by default:
  // pipelined HTTP /hello 16 deep goes from one write per response to one per
  // read, and a handler that sends once still makes one write.
  bool gatherWrites = true;
};

// Knobs only the proactor (io_uring) reads; the reactors ignore them.
struct UringOptions {
  UringTaskRun taskRun = UringTaskRun::Auto;
  UringWakeup wakeup = UringWakeup::EventFd;
  unsigned ringEntries = 1024;  // SQ entries; the CQ gets cqFactor times more
  unsigned cqFactor = 16;       // CQ = ringEntries * cqFactor: room for multishot bursts
  // Provided receive buffers: at most bufferCount of bufferSize bytes per loop
  // (16 MiB), allocated as ENOBUFS shows they are needed. 16 KiB, not 4 KiB:
  // a 16 KiB message then arrives as one completion and one copy instead of
  // four (measured: -20% CPU per message at 16 KiB, none lost at 128 B).
  unsigned bufferCount = 1024;  // power of two
  unsigned bufferSize = 16384;
  std::size_t sendZeroCopyThreshold = 0;          // 0 = never use SEND_ZC
  bool sqpoll = false;                            // IORING_SETUP_SQPOLL (for study; burns a core)
  unsigned waitBatch = 1;                         // completions to wait for per io_uring_enter
  std::chrono::microseconds waitBatchTimeout{0};  // ...or until this much time passed
  bool multishotRecv = true;  // false: one recv SQE per read, re-armed each time
  // With I/O threads and the main acceptor, a socket accepted on one ring
  // reaches its I/O loop's ring as one IORING_OP_MSG_RING (Linux 5.18)
  // carrying the descriptor, riding on the acceptor's next enter, instead of
  // a queued task plus a wake-up (proactor/socket_handoff.h).
  // Off: measured too close to call. Churn (connect, one 128 B echo, close),
  // --threads 1, server CPU per connection, handoff / default 0.986-1.008 over
  // four alternating rounds while default / default varied 0.977-1.038:
  //   taskset -c 0 duet-echo --backend uring --threads 1 [--msgring-handoff on] (x3 ports)
  //   taskset -c 1 duet-load --churn -c 64 -d 6 -w 0.5 --slice 0.25 --slice-warmup 0.05
  //                --port A,B,C --server-pid PA,PB,PC --server-cpus 0 --cpu 1
  // It does save one queued task and the eventfd writes (0.07 per connection:
  // wake-ups coalesce while the I/O loop is busy) per accept; 4.42 -> 4.33
  // system calls per connection, which is below this machine's noise.
  bool msgRingHandoff = false;
  // Recv bundles (IORING_RECVSEND_BUNDLE, Linux 6.10): one recv completion
  // may fill several provided buffers, so a large message costs one
  // completion instead of one per buffer. Default off: with 16 KiB x 16 in
  // flight it cost 1.65x and 1.73x the CPU per message (a bundle becomes one
  // input Buffer above the 64 KiB the spares keep, allocated and faulted in
  // per message); 1.01-1.03x at 1,000 x 128 B, 0.94-0.99x at 100 x 16 KiB,
  // 0.61-1.13x at 10 x 256 KiB (two alternating runs, switch/default, server
  // on CPU 0, load on CPU 1, while other builds ran: `duet-echo --backend
  // uring [--recv-bundle on]` x2, `duet-load --port A,B --server-pid PA,PB
  // --slice 0.25 --slice-warmup 0.05 -d 3 -w 0.5 -c C -s S -k K`).
  KernelFeature recvBundle = KernelFeature::Off;
  // Incremental provided buffers (IOU_PBUF_RING_INC, Linux 6.12): a few large
  // buffers (256 KiB, the same 16 MiB in all at most), each filled in pieces
  // by successive recvs, so small messages share pages instead of each taking
  // a 16 KiB buffer. Default Auto (on where the kernel has it): CPU per
  // message against the classic ring 0.96-0.98x at 1,000 x 128 B, 0.98-1.00x
  // at 100 x 16 KiB, 0.63-0.72x at 100 x 16 KiB x 16 in flight, 0.54-1.05x at
  // 10 x 256 KiB (same two runs and command as recvBundle, with
  // --buffer-ring-inc on). Resident memory: the pool still starts at 1 MiB.
  KernelFeature incrementalBuffers = KernelFeature::Auto;
  // Adaptive receive: when a recv completion fills its buffer or the kernel
  // says the socket has more (IORING_CQE_F_SOCK_NONEMPTY), the multishot recv
  // is cancelled and the connection receives straight into its own input
  // Buffer (a plain recv, MSG_DONTWAIT, into a doubling writable space, as a
  // reactor's read does), then arms the multishot recv again after a short
  // read. No kernel requirement. Default off: 1.01-1.04x the CPU per message
  // at 1,000 x 128 B, 1.23-1.29x at 100 x 16 KiB (the cancel, the direct
  // recv and the re-arm cost more than the copies they save), 0.96-1.05x at
  // 16 KiB x 16, 0.92-1.10x at 10 x 256 KiB (same runs as recvBundle, with
  // --adaptive-recv on).
  bool adaptiveRecv = false;
  // Output queued behind the send in flight goes out uncopied as one vectored
  // send (IORING_SEND_VECTORIZED, Linux 6.17; IORING_OP_SENDMSG with an iovec
  // array on older kernels): a Buffer given up by send(Buffer&&) is queued as
  // it is, instead of being copied behind the send in flight. Not with SEND_ZC
  // (sendZeroCopyThreshold > 0), which keeps its own path.
  // Default off: moving the storage costs more than the copy it saves. An
  // echo's input Buffer given up behind a send in flight leaves with its
  // storage, so the next recv needs new storage, and the chunk's storage goes
  // back to the loop's spares only when its send completes. With large output
  // in transit (10 x 256 KiB, 16 KiB x 16 in flight) that is more storage than
  // the spares keep (SpareBuffers: 2 MiB), so it goes back to malloc, glibc
  // trims the heap (brk) and the next recv faults the pages in again. Without
  // it the input Buffer keeps its warm storage and the bytes are copied into
  // the one queued Buffer. The vectored send itself is not the cost: it is
  // rare (0.001-0.05 per message below). Server CPU per message, on / off,
  // and page faults per message, on vs off (alternating runs, 2026-11-30,
  // kernel 6.18, a busy 2-core machine, so the ranges are wide):
  //   10 x 256 KiB        1.11, 1.41, 0.97, 1.48, 1.10   faults 4.9-23 vs 4.4-10
  //   10 x 256 KiB -k 2   1.56                           faults 28 vs 2.9
  //   100 x 16 KiB -k 16  1.41, 2.25, 1.31               faults 1.0-2.5 vs 0.13-0.32
  //   1,000 x 128 B       1.02                           (nothing queues: the same single send)
  // and in the committed full run (docs/results/2026-11-30-full-2, off / on,
  // 4 rounds): 0.37x at 10 x 256 KiB, 0.67x at 100 x 256 KiB, 0.84x at
  // 16 KiB x 16, 0.98-0.99x for HTTP /hello -k 16, 0.98-1.07x elsewhere.
  // servers: taskset -c 0 duet-echo|duet-http --backend uring --port A|B --vectored-send on|off
  // load: taskset -c 1 duet-load --port A,B --server-pid PA,PB --slice 0.25
  //   --slice-warmup 0.05 -d 3 -w 0.5 (-c 10 -s 262144 [-k 2] | -c 100 -s 16384 -k 16 |
  //   -c 1000 -s 128); page faults: perf stat -e page-faults -p PA (and PB)
  //   over the run, divided by the server's messages (--stats bytes_out / size).
  bool vectoredSend = false;
  // io_uring_register_ring_fd (Linux 5.18): every io_uring_enter names the
  // ring by its registered index and the kernel skips the fd-table lookup.
  // Default off: no steady gain measured. Registered / default, same method:
  // 1,000 x 128 B 0.93, 1.08, 1.07, 1.03; 10 x 256 KiB 0.43, 0.48, 0.91, 0.97
  // (too noisy to call); 100 x 16 KiB -k 16 1.11, 1.01; HTTP -k 16 0.98, 0.96.
  // Expected: a one-loop server's fd table is not shared, so the lookup it
  // saves costs no atomics; with --threads N it might (not measured).
  bool registerRingFd = false;
  // IORING_ENTER_NO_IOWAIT (Linux 6.15): a loop asleep in io_uring_enter
  // counts as idle, not as waiting for I/O (iowait also steers cpufreq
  // boosting on real hosts). Default Auto (where the kernel has it): it is
  // accounting, not speed. CPU per message with iowait back on (--no-iowait
  // off) / default: 0.99, 0.98 (128 B); 0.94, 0.96 (16 KiB -k 16); 1.04, 0.97
  // (256 KiB); 1.04, 0.98 (HTTP -k 16): no difference. What it changes: with
  // a server under 100 req/s, /proc/stat procs_blocked (tasks in iowait) was
  // higher by ~1.5 on average with --no-iowait off and unchanged with auto.
  KernelFeature noIowait = KernelFeature::Auto;
  // Direct descriptors (Linux 6.0): accepted sockets go straight into the
  // ring's fixed-file table and never get a descriptor in the process. Every
  // operation names the slot (IOSQE_FIXED_FILE), so the kernel skips the
  // descriptor lookup per operation; shutdown and close go through the ring
  // too. The table is sized from RLIMIT_NOFILE; a full table sheds the
  // connection (core/accept_shedding.h). Not with the main acceptor and I/O
  // threads (a slot belongs to one ring): TcpServer refuses that.
  // Default off: no gain measured. Server CPU per connection or message,
  // direct / default, alternating runs (2026-11-30, kernel 6.18, a busy
  // 2-core machine), beside a default / default control:
  //   churn (connect, 128 B echo, close)  0.935, 0.948, 1.024, 1.016, 0.969
  //                                       control 1.032, 0.960
  //   1,000 x 128 B echo                  0.949, 0.947, 1.061, 0.881
  //                                       control 1.099, 1.004
  // servers: taskset -c 0 duet-echo --backend uring --port A|B [--direct-fds on]
  // load: taskset -c 1 duet-load --port A,B --server-pid PA,PB --server-cpus 0
  //   --cpu 1 --slice 0.25 --slice-warmup 0.05 (--churn -c 64 -d 4 -w 0.5 |
  //   -c 1000 -s 128 -d 3 -w 0.5)
  // What it saves per connection (getpeername, getsockname, TCP_NODELAY and
  // close(2): the accept carries the address, the rest rides on the ring) and
  // per operation (the fd lookup) is below this machine's noise; the
  // accept is single-shot (one SQE per connection) to carry the address.
  KernelFeature directDescriptors = KernelFeature::Off;
  // Slots in that table; 0: the process's RLIMIT_NOFILE (at most 2^20).
  // Tests make it tiny to fill it.
  unsigned directDescriptorSlots = 0;
};

// What every loop is made with: its backend and the knobs core/ itself reads,
// then each backend's own part. A loop reads the common fields and its part,
// and ignores the other part.
struct LoopOptions {
  Backend backend = Backend::Epoll;

  // Files (EventLoop::readFile). A backend without asynchronous file reads
  // (the reactors) gives them to this many worker threads per loop, started
  // by the loop's first file read; at most fileReadQueue reads wait for a
  // worker, and one more fails at once with EBUSY (duet-http answers 503)
  // instead of queueing without bound. The proactor reads on its ring and
  // ignores both.
  std::size_t fileReadThreads = 2;
  std::size_t fileReadQueue = 256;

  ReactorOptions reactor;
  UringOptions uring;
};

}  // namespace duet
