// Tests for core/stacks: capture, the de-duplicating depot, held-stack rebuilding and
// symbolization. Built with -g -fno-omit-frame-pointer -fno-optimize-sibling-calls (see
// CMakeLists.txt) so that the noinline chains below are real frames with line info.
#include "stacks.h"

#include <gtest/gtest.h>
#include <link.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "provider.h"

#if defined(__clang__)
#define STACKS_TEST_NOINLINE __attribute__((noinline))
#else
#define STACKS_TEST_NOINLINE __attribute__((noinline, noipa))
#endif
// Keeps a call from becoming a tail jump, whatever the flags.
#define STACKS_TEST_BARRIER() asm volatile("" ::: "memory")

// A data object of this executable; extern so that it keeps a real (global) symbol.
extern int g_stacks_test_object[8];
int g_stacks_test_object[8] = {1, 2, 3, 4, 5, 6, 7, 8};
// Zero-initialised and large: its tail lies in the anonymous mapping after the module's
// file-backed data pages, where libdw's module range ends (issue 14).
extern long g_stacks_test_big[400000];
long g_stacks_test_big[400000];
// C names that are also valid mangled type codes ("a" is signed char, "i" is int).
extern "C" {
extern int a;
int a = 0;
extern long i;
long i = 0;
}

// Call chains with external linkage (stable symbol names, no clones).
namespace stacks_test {

using lockaudit::core::CaptureFrames;
using lockaudit::core::RawFrame;
using lockaudit::core::Site;

struct Chain {
  RawFrame frames[64];
  size_t n = 0;
  int leaf_line = 0, middle_line = 0, root_line = 0;
};

// Captures from its caller's frame on: this helper and the unwinder are dropped.
STACKS_TEST_NOINLINE size_t CaptureFromCaller(RawFrame* out, size_t max) {
  size_t n = CaptureFrames(out, max, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
  STACKS_TEST_BARRIER();
  return n;
}

STACKS_TEST_NOINLINE void StackLeaf(Chain* c) {
  c->leaf_line = __LINE__ + 1;
  c->n = CaptureFromCaller(c->frames, 64);
  STACKS_TEST_BARRIER();
}

STACKS_TEST_NOINLINE void StackMiddle(Chain* c) {
  c->middle_line = __LINE__ + 1;
  StackLeaf(c);
  STACKS_TEST_BARRIER();
}

STACKS_TEST_NOINLINE void StackRoot(Chain* c) {
  c->root_line = __LINE__ + 1;
  StackMiddle(c);
  STACKS_TEST_BARRIER();
}

// What an interceptor records: the return address into its caller and the caller's SP at the
// call (this function's CFA).
STACKS_TEST_NOINLINE void RecordSite(Site* site) {
  *site = LOCKAUDIT_CALLER_SITE();
  STACKS_TEST_BARRIER();
}

// A nested lock acquisition, seen from inside the engine: captures everything from here up.
STACKS_TEST_NOINLINE size_t CaptureAll(RawFrame* out, size_t max) {
  size_t n = CaptureFrames(out, max, 0);
  STACKS_TEST_BARRIER();
  return n;
}

struct Held {
  Site site;
  int site_line = 0, outer_line = 0;
  std::vector<uintptr_t> rebuilt;
  bool partial = true;
};

// "Locks" once (records the site), then "locks" again through a deeper call; the stack of the
// first acquisition is rebuilt from the frames of the second.
STACKS_TEST_NOINLINE void HeldAcquirer(Held* h) {
  h->site_line = __LINE__ + 1;
  RecordSite(&h->site);
  RawFrame frames[64];
  size_t n = CaptureAll(frames, 64);
  h->rebuilt =
      lockaudit::core::RebuildHeldStack(frames, n, h->site.pc, h->site.cfa, 64, &h->partial);
  STACKS_TEST_BARRIER();
}

// The helper pattern: `TakeA(); TakeB();` from one function. TakeA "locks" and returns; TakeB,
// at the same depth, "locks" again and rebuilds TakeA's stack from its own frames.
STACKS_TEST_NOINLINE void TakeA(Held* h) {
  h->site_line = __LINE__ + 1;
  RecordSite(&h->site);
  STACKS_TEST_BARRIER();
}

STACKS_TEST_NOINLINE void TakeB(Held* h) {
  RawFrame frames[64];
  size_t n = CaptureAll(frames, 64);
  h->rebuilt =
      lockaudit::core::RebuildHeldStack(frames, n, h->site.pc, h->site.cfa, 64, &h->partial);
  STACKS_TEST_BARRIER();
}

STACKS_TEST_NOINLINE void AThenB(Held* h) {
  h->outer_line = __LINE__ + 1;
  TakeA(h);
  TakeB(h);
  STACKS_TEST_BARRIER();
}

STACKS_TEST_NOINLINE void HeldOuter(Held* h) {
  h->outer_line = __LINE__ + 1;
  HeldAcquirer(h);
  STACKS_TEST_BARRIER();
}

}  // namespace stacks_test

namespace lockaudit::core {
namespace {

using stacks_test::Chain;

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::vector<uintptr_t> Pcs(const Chain& c) {
  std::vector<uintptr_t> pcs;
  for (size_t k = 0; k < c.n; ++k) pcs.push_back(c.frames[k].pc);
  return pcs;
}

// The line of a return address is its call's line; optimisation may attribute the call to a
// neighbouring line of the same statement.
void ExpectFrame(const SymbolizedFrame& f, const char* function, int line) {
  EXPECT_NE(f.function.find(function), std::string::npos) << "got '" << f.function << "'";
  EXPECT_EQ(Basename(f.file), "stacks_test.cc") << f.function;
  EXPECT_GE(f.line, line - 1) << f.function;
  EXPECT_LE(f.line, line + 1) << f.function;
  EXPECT_FALSE(f.module.empty()) << f.function;
}

TEST(StacksTest, CapturedChainSymbolizesToItsFunctionsAndLines) {
  Chain c;
  stacks_test::StackRoot(&c);
  ASSERT_GE(c.n, 4u) << "leaf, middle, root and the test body";
  for (size_t k = 1; k < c.n; ++k) {
    EXPECT_GT(c.frames[k].sp, c.frames[k - 1].sp) << "callers live higher on the stack";
  }
  std::vector<uintptr_t> pcs = Pcs(c);
  StackId id = InternStack(pcs.data(), pcs.size());
  ASSERT_NE(id, 0u);
  EXPECT_EQ(GetStack(id), pcs);
  std::vector<SymbolizedFrame> frames = SymbolizeStack(id);
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames[0].pc, c.frames[0].pc);
  ExpectFrame(frames[0], "StackLeaf", c.leaf_line);
  ExpectFrame(frames[1], "StackMiddle", c.middle_line);
  ExpectFrame(frames[2], "StackRoot", c.root_line);
  EXPECT_NE(frames[3].function.find("CapturedChainSymbolizesToItsFunctionsAndLines"),
            std::string::npos)
      << "got '" << frames[3].function << "'";
  for (const SymbolizedFrame& f : frames) {
    EXPECT_EQ(f.function.find("CaptureFrames"), std::string::npos) << "engine frame kept";
    EXPECT_EQ(f.function.find("CaptureFromCaller"), std::string::npos) << "helper frame kept";
  }
}

TEST(StacksTest, CaptureRespectsMaxFrames) {
  RawFrame two[2];
  size_t n = CaptureFrames(two, 2, 0);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(CaptureFrames(two, 0, 0), 0u);
}

TEST(StacksTest, InternStackDeduplicatesEqualStacks) {
  // Synthetic pcs no real stack has, fresh on every run: the depot is process-wide.
  static uintptr_t run = 0;
  const uintptr_t p = 0xdead0000 + (++run << 4);
  const uintptr_t a[] = {p + 1, p + 2, p + 3};
  const uintptr_t same[] = {p + 1, p + 2, p + 3};
  const uintptr_t other[] = {p + 1, p + 2, p + 4};
  const uintptr_t prefix[] = {p + 1, p + 2};
  const size_t before = DepotSize();
  StackId id = InternStack(a, 3);
  ASSERT_NE(id, 0u);
  EXPECT_EQ(DepotSize(), before + 1);
  EXPECT_EQ(InternStack(same, 3), id);
  EXPECT_EQ(DepotSize(), before + 1) << "an equal stack is stored once";
  StackId other_id = InternStack(other, 3);
  StackId prefix_id = InternStack(prefix, 2);
  EXPECT_NE(other_id, id);
  EXPECT_NE(prefix_id, id);
  EXPECT_NE(prefix_id, other_id);
  EXPECT_EQ(DepotSize(), before + 3);
  EXPECT_EQ(GetStack(id), std::vector<uintptr_t>(a, a + 3));
  EXPECT_EQ(GetStack(prefix_id), std::vector<uintptr_t>(prefix, prefix + 2));
  EXPECT_EQ(InternStack(a, 0), 0u) << "an empty stack has no id";
  EXPECT_TRUE(GetStack(0).empty());
}

TEST(StacksTest, SameCallSiteGivesSameStackId) {
  StackId ids[2];
  for (StackId& id : ids) {
    Chain c;
    stacks_test::StackRoot(&c);  // one call site, two captures
    std::vector<uintptr_t> pcs = Pcs(c);
    id = InternStack(pcs.data(), pcs.size());
  }
  EXPECT_EQ(ids[0], ids[1]);
  Chain c;
  stacks_test::StackMiddle(&c);  // another chain: another stack
  std::vector<uintptr_t> pcs = Pcs(c);
  EXPECT_NE(InternStack(pcs.data(), pcs.size()), ids[0]);
}

TEST(StacksTest, RebuiltHeldStackStartsAtSiteAndContinuesWithCallers) {
  stacks_test::Held h;
  stacks_test::HeldOuter(&h);
  EXPECT_FALSE(h.partial);
  ASSERT_GE(h.rebuilt.size(), 3u);
  EXPECT_EQ(h.rebuilt[0], h.site.pc);
  StackId id = InternStack(h.rebuilt.data(), h.rebuilt.size());
  std::vector<SymbolizedFrame> frames = SymbolizeStack(id);
  ASSERT_GE(frames.size(), 3u);
  ExpectFrame(frames[0], "HeldAcquirer", h.site_line);
  ExpectFrame(frames[1], "HeldOuter", h.outer_line);
  EXPECT_NE(frames[2].function.find("RebuiltHeldStackStartsAtSiteAndContinuesWithCallers"),
            std::string::npos)
      << "got '" << frames[2].function << "'";
  size_t acquirer = std::count_if(frames.begin(), frames.end(), [](const SymbolizedFrame& f) {
    return f.function.find("HeldAcquirer") != std::string::npos;
  });
  EXPECT_EQ(acquirer, 1u) << "the acquiring function must appear once";
  for (const SymbolizedFrame& f : frames) {
    EXPECT_EQ(f.function.find("CaptureAll"), std::string::npos) << "newer frame kept";
  }
}

TEST(StacksTest, RebuiltHeldStackRespectsMaxDepth) {
  stacks_test::Held h;
  stacks_test::HeldOuter(&h);
  RawFrame frames[64];
  size_t n = CaptureFrames(frames, 64, 0);
  bool partial = false;
  std::vector<uintptr_t> one = RebuildHeldStack(frames, n, h.site.pc, h.site.cfa, 1, &partial);
  EXPECT_EQ(one, std::vector<uintptr_t>{h.site.pc});
}

// A lock taken by a helper that has returned: its callers are gone, and the frames now at its
// depth are another call's. The rebuilt stack is only the acquisition site, marked partial,
// never TakeB's frames under TakeA's site.
TEST(StacksTest, HeldStackOfAReturnedHelperIsOnlyItsSiteAndPartial) {
  stacks_test::Held h;
  stacks_test::AThenB(&h);
  EXPECT_TRUE(h.partial);
  ASSERT_EQ(h.rebuilt, std::vector<uintptr_t>{h.site.pc});
  std::vector<SymbolizedFrame> frames = SymbolizeStack(InternStack(h.rebuilt.data(), 1, true));
  ASSERT_EQ(frames.size(), 1u);
  ExpectFrame(frames[0], "TakeA", h.site_line);
  EXPECT_TRUE(IsPartialStack(InternStack(h.rebuilt.data(), 1, true)));
  EXPECT_FALSE(IsPartialStack(InternStack(h.rebuilt.data(), 1, false)));
}

TEST(StacksTest, DataSymbolNamesGlobalObject) {
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&g_stacks_test_object[0])),
            "g_stacks_test_object");
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&g_stacks_test_object[2])),
            "g_stacks_test_object+0x8");
}

TEST(StacksTest, DataSymbolNamesAnElementDeepInALargeZeroedArray) {
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&g_stacks_test_big[0])), "g_stacks_test_big");
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&g_stacks_test_big[300000])),
            "g_stacks_test_big+0x249f00");
}

TEST(StacksTest, DataSymbolKeepsShortCNamesAsTheyAre) {
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&a)), "a");
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&i)), "i");
}

TEST(StacksTest, DataSymbolIsEmptyForCodeAndHeap) {
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(&stacks_test::StackLeaf)), "");
  std::unique_ptr<int> heap(new int(0));
  EXPECT_EQ(DataSymbol(reinterpret_cast<uintptr_t>(heap.get())), "");
}

// The symbolizer reads each unit's DIE tree from an index it builds once; over this
// executable's code (C++ units with the standard library inlined), what symbolizing reads of
// it must be exactly what libdw's own walks give.
TEST(Symbolize, ScopeIndexAgreesWithLibdwOverThisExecutable) {
  struct Text {
    uintptr_t begin = 0, end = 0;
  } text;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) {
        auto* t = static_cast<Text*>(arg);
        if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') return 0;  // main only
        for (int k = 0; k < info->dlpi_phnum; ++k) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[k];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            t->begin = info->dlpi_addr + ph.p_vaddr;
            t->end = t->begin + ph.p_memsz;
          }
        }
        return 1;
      },
      &text);
  ASSERT_LT(text.begin, text.end);
  std::string mismatch;
  // About 600 pcs spread over the whole text (an odd step, so not only function starts).
  const uintptr_t step = ((text.end - text.begin) / 600) | 1;
  size_t libdw_none = 0;
  const size_t compared = VerifyScopeIndex(text.begin, text.end, step, &mismatch, &libdw_none);
  EXPECT_EQ(mismatch, "");
  EXPECT_GT(compared, 400u);
  EXPECT_LT(libdw_none, compared / 2);  // most pcs were compared in full
}

}  // namespace
}  // namespace lockaudit::core
