// channel_checks: lockaudit::channel<T> used well and badly, one situation per mode. Linked with
// liblockaudit (the channel is its type) and run under the shim, as a user would.
//
//   clean     3 producers x 20000 items through a channel of 16 to 2 consumers, close(), drain;
//             plus try_/_for forms. Sums checked. No finding.
//   closed    a sender after close(): send() returns false and leaves its argument intact.
//             One send_on_closed.
//   stall     a producer waits on a full channel while its consumer sleeps 1.5 s (no lock
//             held). One channel_stall (LOCKAUDIT_STALL_MS=500).
//   leak      a channel destroyed with 3 items, and one still open at exit with 2. Two
//             channel_leak.
//   deadlock  the producer holds a mutex and waits on a full channel; the only consumer waits for
//             that mutex before receiving. One deadlock through the lock and the channel (the
//             program hangs: LOCKAUDIT_ON_DEADLOCK=abort ends it).
//   self      one thread, the channel's only receiver, sends on it while it is full. One deadlock
//             of a single thread (aborted likewise).
// Exit status 0 when every result the program checks is right, 1 otherwise.
#include <lockaudit/channel.h>

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_failures = 0;
#define CHECK_TRUE(cond)                                                      \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                           \
    }                                                                         \
  } while (0)

void Name(const char* n) { pthread_setname_np(pthread_self(), n); }

int Clean() {
  lockaudit::channel<long> ch(16, "work");
  constexpr long kPerProducer = 20000;
  std::vector<std::thread> producers, consumers;
  std::vector<long> sums(2, 0), counts(2, 0);
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&ch, p] {
      Name("producer");
      for (long i = 1; i <= kPerProducer; ++i) CHECK_TRUE(ch.send(i + p * kPerProducer));
    });
  }
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&, c] {
      Name("consumer");
      while (std::optional<long> v = ch.recv()) {
        sums[c] += *v;
        ++counts[c];
      }
    });
  }
  for (auto& t : producers) t.join();
  ch.close();
  for (auto& t : consumers) t.join();
  const long n = 3 * kPerProducer;
  CHECK_TRUE(counts[0] + counts[1] == n);
  CHECK_TRUE(sums[0] + sums[1] == n * (n + 1) / 2);
  CHECK_TRUE(ch.size() == 0);

  // The non-waiting and timed forms, and a move-only type.
  lockaudit::channel<std::unique_ptr<int>> small(1, "small");
  CHECK_TRUE(!small.try_recv().has_value());
  CHECK_TRUE(!small.recv_for(std::chrono::milliseconds(20)).has_value());
  CHECK_TRUE(small.try_send(std::make_unique<int>(7)));
  auto extra = std::make_unique<int>(8);
  CHECK_TRUE(!small.try_send(std::move(extra)));
  CHECK_TRUE(extra != nullptr && *extra == 8);  // not moved from: the send failed
  CHECK_TRUE(!small.send_for(std::move(extra), std::chrono::milliseconds(20)));
  CHECK_TRUE(extra != nullptr);
  std::optional<std::unique_ptr<int>> got = small.recv();
  CHECK_TRUE(got.has_value() && **got == 7);
  // close() wakes a waiting receiver with nullopt.
  std::thread waiter([&small] {
    Name("waiter");
    CHECK_TRUE(!small.recv().has_value());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  small.close();
  waiter.join();
  return g_failures == 0 ? 0 : 1;
}

int Closed() {
  lockaudit::channel<std::string> ch(4, "events");
  std::thread producer([&ch] {
    Name("producer");
    for (int i = 0; i < 3; ++i) CHECK_TRUE(ch.send("event " + std::to_string(i)));
    ch.close();
  });
  producer.join();
  std::thread late([&ch] {
    Name("late-sender");
    std::string item = "late event";
    const bool sent = ch.send(std::move(item));  // fails: closed
    CHECK_TRUE(!sent);
    CHECK_TRUE(item == "late event");  // an rvalue not taken stays intact
  });
  late.join();
  int received = 0;
  while (std::optional<std::string> e = ch.recv()) ++received;
  CHECK_TRUE(received == 3);
  return g_failures == 0 ? 0 : 1;
}

int Stall() {
  lockaudit::channel<int> ch(2, "uploads");
  std::thread consumer([&ch] {
    Name("uploader");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // busy elsewhere
    int n = 0;
    while (ch.recv()) ++n;
    CHECK_TRUE(n == 5);
  });
  Name("producer");
  for (int i = 0; i < 5; ++i) CHECK_TRUE(ch.send(i));  // the third waits about 1.5 s
  ch.close();
  consumer.join();
  return g_failures == 0 ? 0 : 1;
}

lockaudit::channel<int>* g_results;

int Leak() {
  {
    lockaudit::channel<int> replies(8, "replies");
    for (int i = 0; i < 3; ++i) CHECK_TRUE(replies.send(i));
  }  // destroyed with 3 items never received
  g_results = new lockaudit::channel<int>(4, "results");
  CHECK_TRUE(g_results->send(1));
  CHECK_TRUE(g_results->send(2));
  return g_failures == 0 ? 0 : 1;  // exits with 2 items in `results`
}

int Deadlock() {
  static std::mutex state_mu;
  static lockaudit::channel<int> jobs(1, "jobs");
  std::thread consumer([] {
    Name("consumer");
    CHECK_TRUE(!jobs.try_recv().has_value());  // it is the receiver of `jobs`
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (;;) {
      std::lock_guard<std::mutex> lock(state_mu);  // waits: the producer holds it
      if (!jobs.recv()) break;
    }
  });
  Name("producer");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::lock_guard<std::mutex> lock(state_mu);
  CHECK_TRUE(jobs.send(1));
  CHECK_TRUE(jobs.send(2));  // full, and the consumer waits for state_mu: never returns
  consumer.join();
  return 1;
}

int Self() {
  static lockaudit::channel<int> loop(1, "loopback");
  Name("looper");
  CHECK_TRUE(loop.send(1));
  CHECK_TRUE(loop.recv().has_value());  // this thread is the channel's receiver
  CHECK_TRUE(loop.send(2));
  CHECK_TRUE(loop.send(3));  // full, and only this thread receives: never returns
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "clean") return Clean();
  if (mode == "closed") return Closed();
  if (mode == "stall") return Stall();
  if (mode == "leak") return Leak();
  if (mode == "deadlock") return Deadlock();
  if (mode == "self") return Self();
  std::fprintf(stderr, "usage: channel_checks clean|closed|stall|leak|deadlock|self\n");
  return 2;
}
