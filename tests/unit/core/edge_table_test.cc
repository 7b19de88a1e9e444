// Tests for EdgeTable: the index over the edge records, their reuse and their stable addresses,
// checked against a std::map model over randomized inserts and erases.
#include "edge_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace lockaudit::core {
namespace {

// A live lock's id: odd generation (as the registry makes them), any index.
NodeId Id(uint32_t index, uint32_t generation = 1) { return MakeNodeId(generation, index); }

TEST(EdgeTable, InsertFindErase) {
  EdgeTable t;
  EXPECT_EQ(t.Find(Id(1), Id(2)), nullptr);
  EdgeRecord* r = t.Insert(Id(1), Id(2));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->from, Id(1));
  EXPECT_EQ(r->to, Id(2));
  EXPECT_EQ(r->ngates, 0);
  r->tid = 77;
  EXPECT_EQ(t.Find(Id(1), Id(2)), r);
  EXPECT_EQ(t.Find(Id(2), Id(1)), nullptr);  // directed
  EXPECT_EQ(t.size(), 1u);
  t.Erase(1, 2);
  EXPECT_EQ(t.Find(Id(1), Id(2)), nullptr);
  EXPECT_EQ(t.FindByIndex(1, 2), nullptr);
  EXPECT_EQ(t.size(), 0u);
  t.Erase(1, 2);  // absent: nothing happens
  EXPECT_EQ(t.size(), 0u);
}

TEST(EdgeTable, FindChecksGenerationsFindByIndexDoesNot) {
  EdgeTable t;
  ASSERT_NE(t.Insert(Id(5, 1), Id(6, 3)), nullptr);
  EXPECT_NE(t.Find(Id(5, 1), Id(6, 3)), nullptr);
  EXPECT_EQ(t.Find(Id(5, 3), Id(6, 3)), nullptr);  // a later lock at index 5
  EdgeRecord* r = t.FindByIndex(5, 6);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->from, Id(5, 1));
}

// Reserve maps the first pages ahead of the first edge and adds no edge: twice is the same as
// once, nothing is visited or found, and inserts after it behave as in a fresh table (records
// of one chunk, in order). (That it saves the page faults is measured: workloads first.)
TEST(EdgeTable, ReserveAddsNoEdge) {
  EdgeTable t;
  ASSERT_TRUE(t.Reserve());
  ASSERT_TRUE(t.Reserve());  // again: nothing changes
  EXPECT_EQ(t.size(), 0u);
  size_t visited = 0;
  t.ForEach([&visited](const EdgeRecord&) { ++visited; });
  EXPECT_EQ(visited, 0u);
  EXPECT_EQ(t.FindByIndex(0, 1), nullptr);
  EdgeRecord* r = t.Insert(Id(0), Id(1));
  ASSERT_NE(r, nullptr);
  EdgeRecord* r2 = t.Insert(Id(1), Id(2));
  ASSERT_NE(r2, nullptr);
  EXPECT_EQ(r2, r + 1);  // one chunk, in order
  t.ForEach([&visited](const EdgeRecord&) { ++visited; });
  EXPECT_EQ(visited, 2u);
  EXPECT_EQ(t.Find(Id(0), Id(1)), r);
}

TEST(EdgeTable, NoSelfEdge) {
  EdgeTable t;
  EXPECT_EQ(t.Insert(Id(3), Id(3, 5)), nullptr);  // same index: the index's free keys
  EXPECT_EQ(t.FindByIndex(0, 0), nullptr);
  EXPECT_EQ(t.FindByIndex(~0u, ~0u), nullptr);
  EXPECT_EQ(t.size(), 0u);
}

// Records do not move when the index grows: the detector may hold a record's address while it
// inserts other edges.
TEST(EdgeTable, RecordsKeepTheirAddressAsTheIndexGrows) {
  EdgeTable t;
  std::vector<std::pair<NodeId, EdgeRecord*>> first;
  for (uint32_t i = 1; i <= 100; ++i) first.push_back({Id(i), t.Insert(Id(i), Id(i + 1000000))});
  for (uint32_t i = 0; i < 200000; ++i) ASSERT_NE(t.Insert(Id(i + 2000000), Id(i + 3000000)), nullptr);
  for (auto& [from, r] : first) {
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(t.Find(from, Id(IndexOf(from) + 1000000)), r);
    EXPECT_EQ(r->from, from);
  }
  EXPECT_EQ(t.size(), 200100u);
}

// An erased edge's record is reused: a program that keeps making and destroying locks keeps
// the records it needs at any time, not every one it ever had.
TEST(EdgeTable, ErasedRecordsAreReused) {
  EdgeTable t;
  std::set<const EdgeRecord*> seen;
  for (uint32_t round = 0; round < 50; ++round) {
    for (uint32_t i = 0; i < 1000; ++i) {
      EdgeRecord* r = t.Insert(Id(round * 10000 + i), Id(round * 10000 + i + 5000));
      ASSERT_NE(r, nullptr);
      seen.insert(r);
    }
    for (uint32_t i = 0; i < 1000; ++i) t.Erase(round * 10000 + i, round * 10000 + i + 5000);
    EXPECT_EQ(t.size(), 0u);
  }
  EXPECT_EQ(seen.size(), 1000u);  // 50,000 edges in all, 1,000 records
  size_t visited = 0;
  t.ForEach([&](const EdgeRecord&) { ++visited; });
  EXPECT_EQ(visited, 0u);
}

// Randomized against a model: inserts, erases (also of absent keys), finds and ForEach agree,
// the records keep what was written to them, and tombstones do not hide live keys.
TEST(EdgeTable, AgreesWithAModel) {
  EdgeTable t;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> model;  // (from, to) -> tid written
  std::mt19937 rng(20261204);
  std::uniform_int_distribution<uint32_t> node(0, 400);
  for (int step = 0; step < 200000; ++step) {
    const uint32_t a = node(rng), b = node(rng);
    const int op = static_cast<int>(rng() % 10);
    if (a == b) continue;
    auto it = model.find({a, b});
    if (op < 5) {
      if (it != model.end()) continue;  // Insert's contract: absent
      EdgeRecord* r = t.Insert(Id(a), Id(b));
      ASSERT_NE(r, nullptr);
      r->tid = static_cast<uint32_t>(step);
      model[{a, b}] = static_cast<uint32_t>(step);
    } else if (op < 8) {
      t.Erase(a, b);
      if (it != model.end()) model.erase(it);
    } else {
      EdgeRecord* r = t.Find(Id(a), Id(b));
      if (it == model.end()) {
        ASSERT_EQ(r, nullptr) << a << "->" << b;
      } else {
        ASSERT_NE(r, nullptr) << a << "->" << b;
        ASSERT_EQ(r->tid, it->second);
      }
    }
    ASSERT_EQ(t.size(), model.size());
  }
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> listed;
  t.ForEach([&](const EdgeRecord& r) { listed[{IndexOf(r.from), IndexOf(r.to)}] = r.tid; });
  EXPECT_EQ(listed, model);
}

// Emplace (and Locate + InsertAt, its two steps) against the same model, with erases leaving
// tombstones that the inserts reuse and the index growing on the way; and a record of earlier
// locks at the same indices is reported stale, never as the edge.
TEST(EdgeTable, EmplaceAndLocateAgreeWithAModel) {
  EdgeTable t;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> model;
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<uint32_t> node(0, 600);
  for (int step = 0; step < 200000; ++step) {
    const uint32_t a = node(rng), b = node(rng);
    if (a == b) continue;
    const int op = static_cast<int>(rng() % 10);
    auto it = model.find({a, b});
    if (op < 4) {
      EdgeTable::Emplaced how;
      EdgeRecord* r = t.Emplace(Id(a), Id(b), &how);
      ASSERT_NE(r, nullptr);
      if (it == model.end()) {
        ASSERT_EQ(how, EdgeTable::Emplaced::kInserted);
        ASSERT_EQ(r->tid, 0u);  // a fresh record
        r->tid = static_cast<uint32_t>(step);
        model[{a, b}] = static_cast<uint32_t>(step);
      } else {
        ASSERT_EQ(how, EdgeTable::Emplaced::kFound);
        ASSERT_EQ(r->tid, it->second);
      }
    } else if (op < 6) {
      const EdgeTable::Place p = t.Locate(Id(a), Id(b));
      ASSERT_FALSE(p.stale);
      if (it != model.end()) {
        ASSERT_NE(p.record, nullptr);
        ASSERT_EQ(p.record->tid, it->second);
        continue;
      }
      ASSERT_EQ(p.record, nullptr);
      EdgeRecord* r = t.InsertAt(p, Id(a), Id(b));
      ASSERT_NE(r, nullptr);
      r->tid = static_cast<uint32_t>(step);
      model[{a, b}] = static_cast<uint32_t>(step);
    } else if (op < 9) {
      t.Erase(a, b);
      if (it != model.end()) model.erase(it);
    } else if (it != model.end()) {
      EdgeTable::Emplaced how;
      EdgeRecord* r = t.Emplace(Id(a, 3), Id(b), &how);  // a later lock at index a
      ASSERT_EQ(how, EdgeTable::Emplaced::kStale);
      ASSERT_EQ(r->tid, it->second);
      ASSERT_TRUE(t.Locate(Id(a, 3), Id(b)).stale);
    }
    ASSERT_EQ(t.size(), model.size());
  }
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> listed;
  t.ForEach([&](const EdgeRecord& r) { listed[{IndexOf(r.from), IndexOf(r.to)}] = r.tid; });
  EXPECT_EQ(listed, model);
}

// Tables sharing one chunk source (the detector's shards): every record its own storage,
// stable while the tables grow, across many chunks and slabs.
TEST(EdgeTable, TablesSharingAChunkSourceKeepDistinctStableRecords) {
  EdgeChunkSource source;
  std::vector<std::unique_ptr<EdgeTable>> tables;
  for (int i = 0; i < 3; ++i) {
    tables.push_back(std::make_unique<EdgeTable>());
    tables.back()->SetChunkSource(&source);
  }
  std::map<const EdgeRecord*, uint32_t> records;  // address -> the value written there
  uint32_t n = 0;
  for (uint32_t a = 1; a < 60; ++a) {
    for (uint32_t b = 100; b < 160; ++b) {
      EdgeRecord* r = tables[n % 3]->Insert(Id(a), Id(b));
      ASSERT_NE(r, nullptr);
      r->tid = ++n;
      ASSERT_TRUE(records.emplace(r, n).second) << "a record handed out twice";
    }
  }
  EXPECT_GT(n, EdgeTable::kChunkRecords * EdgeChunkSource::kSlabChunks);  // more than a slab
  for (const auto& [r, tid] : records) {
    ASSERT_EQ(r->tid, tid);
    EdgeTable& t = *tables[(tid - 1) % 3];
    ASSERT_EQ(t.Find(r->from, r->to), r);
  }
}

}  // namespace
}  // namespace lockaudit::core
