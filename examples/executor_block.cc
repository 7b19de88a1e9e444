// executor_block: the C++ form of calling block_on() inside an async runtime.
//
// A single-threaded executor runs tasks from a queue on one thread, "executor". Task 1 posts
// task 2 (which produces a value) and then waits for that value with std::future::get(). But
// task 2 can only run on the executor thread, which task 1 is blocking: the program hangs, with
// no lock held and no error anywhere.
//
// Under the shim, with the executor thread declared non-blocking, lockaudit reports
// blocking_in_nonblocking (with the stack of the get() call) the moment task 1 blocks:
//
//   LOCKAUDIT_NONBLOCKING_THREADS=executor build/bin/lockaudit run -- build/bin/executor_block
//
// The program gives up after 3 s on its own (so that it ends), printing that it was stuck.
#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace {

// Runs posted tasks one after the other on its own thread until the queue is empty (like
// asio's io_context::run()).
class Executor {
 public:
  void Post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  void Run() {
    std::thread thread([this] {
      pthread_setname_np(pthread_self(), "executor");
      for (;;) {
        std::function<void()> task;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (tasks_.empty()) return;
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        task();
      }
    });
    thread.join();
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
};

}  // namespace

int main() {
  Executor executor;
  bool stuck = false;
  executor.Post([&executor, &stuck] {
    auto value = std::make_shared<std::promise<int>>();
    std::future<int> result = value->get_future();
    executor.Post([value] { value->set_value(42); });  // runs only after this task returns
    // The bug: waiting on the executor's own thread for work queued behind this task.
    if (result.wait_for(std::chrono::seconds(3)) == std::future_status::timeout) {
      std::printf("executor_block: task 1 gave up after 3 s: it blocked the executor it waits on\n");
      stuck = true;
    }
  });
  executor.Run();
  return stuck ? 1 : 0;
}
