// <lockaudit/tbb.h>: oneTBB worker threads as non-blocking contexts.
//
//   tbb::task_arena arena;
//   lockaudit::tbb_observer observer(arena);  // observes while it lives
//   arena.execute([&] { tbb::parallel_for(...); });
//
// A TBB task that blocks on a contended lock, waits on a condition variable or on a futex
// (std::future::get, ...) holds a worker of the pool hostage; with the observer, it is reported
// as blocking_in_nonblocking, with the task's stack. Only worker threads are
// marked: the thread that calls into the arena (often main) may block.
//
// Thread-safety: TBB calls the observer from each thread as it enters and leaves the arena.
// Cost: two calls into lockaudit per worker entry/exit; nothing per task.
#ifndef LOCKAUDIT_TBB_H_
#define LOCKAUDIT_TBB_H_

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include "lockaudit/lockaudit.h"

namespace lockaudit {

class tbb_observer : public tbb::task_scheduler_observer {
 public:
  // Observes the worker threads of `arena`.
  explicit tbb_observer(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
    observe(true);
  }
  // Observes the worker threads of the implicit (global) arena.
  tbb_observer() { observe(true); }
  ~tbb_observer() override { observe(false); }
  tbb_observer(const tbb_observer&) = delete;
  tbb_observer& operator=(const tbb_observer&) = delete;

  void on_scheduler_entry(bool is_worker) override {
    if (is_worker) lockaudit_nonblocking_begin();
  }
  void on_scheduler_exit(bool is_worker) override {
    if (is_worker) lockaudit_nonblocking_end();
  }
};

}  // namespace lockaudit

#endif  // LOCKAUDIT_TBB_H_
