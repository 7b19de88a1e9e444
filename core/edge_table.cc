#include "edge_table.h"

#include <sys/mman.h>

#include <cstring>

#include "engine_arena.h"
#include "hash.h"

namespace lockaudit::core {
namespace {

// Page-backed storage: a table of a million edges is not the program's (nor the engine
// arena's) business. `populate`: the pages are filled by the mmap itself (one call instead of a
// page fault per page, the larger cost on this path), for storage that is about to be written
// all over (a rehashed index, a new chunk of records).
void* Map(size_t bytes, bool populate) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (populate ? MAP_POPULATE : 0), -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// The chunk directory: kMaxChunks pointers to chunks of records.
constexpr size_t kDirectoryBytes = EdgeTable::kMaxChunks * sizeof(void*);

size_t SlotOf(uint64_t key, size_t capacity) { return Mix64(key) & (capacity - 1); }

// An index slot: the pair of lock indices (kIndexBits each) above the record's number
// (kRecordBits). Lock indices are below 2^22 (LockRegistry: 256 chunks of 16,384 nodes), and a
// table holds at most 2^kRecordBits records.
constexpr uint32_t kIndexBits = 22;
constexpr uint32_t kRecordBits = 20;
static_assert(2 * kIndexBits + kRecordBits == 64);
static_assert(uint64_t{LockRegistry::kMaxChunks} * LockRegistry::kChunkSize <= uint64_t{1} << kIndexBits,
              "a lock index fits an index slot");
static_assert(uint64_t{EdgeTable::kMaxChunks} * EdgeTable::kChunkRecords <= uint64_t{1} << kRecordBits,
              "a record number fits an index slot");
uint64_t IndexKey(uint32_t from, uint32_t to) {
  return (static_cast<uint64_t>(from) << kIndexBits) | to;
}
uint64_t KeyOf(uint64_t slot) { return slot >> kRecordBits; }
uint32_t RecordOf(uint64_t slot) {
  return static_cast<uint32_t>(slot & ((uint64_t{1} << kRecordBits) - 1));
}
uint64_t SlotWith(uint64_t key, uint32_t record) { return (key << kRecordBits) | record; }
bool Storable(uint32_t from, uint32_t to) {
  return from != to && from < (1u << kIndexBits) && to < (1u << kIndexBits);
}

}  // namespace

constexpr size_t kChunkBytes = EdgeTable::kChunkRecords * sizeof(EdgeRecord);
constexpr size_t kSlabBytes = EdgeChunkSource::kSlabChunks * kChunkBytes;
constexpr size_t kMaxSlabs = size_t{1} << 16;

EdgeChunkSource::~EdgeChunkSource() {
  EngineLock lock(mu_);
  for (size_t i = 0; i < nslabs_; ++i) munmap(slabs_[i], kSlabBytes);
  if (slabs_ != nullptr) munmap(slabs_, kMaxSlabs * sizeof(char*));
}

EdgeRecord* EdgeChunkSource::Take() {
  EngineLock lock(mu_);
  if (used_ == kSlabChunks) {
    if (slabs_ == nullptr && (slabs_ = static_cast<char**>(
                                  Map(kMaxSlabs * sizeof(char*), false))) == nullptr) {
      return nullptr;
    }
    if (nslabs_ == kMaxSlabs) return nullptr;
    auto* slab = static_cast<char*>(Map(kSlabBytes, true));
    if (slab == nullptr) return nullptr;
    slabs_[nslabs_++] = slab_ = slab;
    used_ = 0;
  }
  return reinterpret_cast<EdgeRecord*>(slab_ + kChunkBytes * used_++);
}

EdgeTable::~EdgeTable() {
  if (slots_ != nullptr) munmap(slots_, capacity_ * sizeof(uint64_t));
  if (chunks_ != nullptr) {
    for (uint32_t c = 0; c < kMaxChunks && chunks_[c] != nullptr && source_ == nullptr; ++c) {
      munmap(chunks_[c], kChunkRecords * sizeof(EdgeRecord));
    }
    munmap(chunks_, kDirectoryBytes);
  }
}

size_t EdgeTable::Probe(uint64_t key) const {
  if (capacity_ == 0) return capacity_;
  for (size_t i = SlotOf(key, capacity_), n = 0; n < capacity_; i = (i + 1) & (capacity_ - 1), ++n) {
    if (KeyOf(slots_[i]) == key) return i;
    if (slots_[i] == kEmpty) return capacity_;
  }
  return capacity_;
}

EdgeRecord* EdgeTable::FindByIndex(uint32_t from, uint32_t to) {
  if (!Storable(from, to)) return nullptr;  // never stored (the index's free keys are self edges)
  size_t i = Probe(IndexKey(from, to));
  return i == capacity_ ? nullptr : &Record(RecordOf(slots_[i]));
}

EdgeRecord* EdgeTable::Find(NodeId from, NodeId to) {
  EdgeRecord* r = FindByIndex(IndexOf(from), IndexOf(to));
  return r != nullptr && r->from == from && r->to == to ? r : nullptr;
}

bool EdgeTable::Rehash(size_t capacity) {
  auto* slots = static_cast<uint64_t*>(Map(capacity * sizeof(uint64_t), true));
  if (slots == nullptr) return false;
  for (size_t i = 0; i < capacity_; ++i) {
    if (slots_[i] == kEmpty || slots_[i] == kErased) continue;
    size_t j = SlotOf(KeyOf(slots_[i]), capacity);
    while (slots[j] != kEmpty) j = (j + 1) & (capacity - 1);
    slots[j] = slots_[i];
  }
  if (slots_ != nullptr) munmap(slots_, capacity_ * sizeof(uint64_t));
  slots_ = slots;
  capacity_ = capacity;
  erased_ = 0;
  return true;
}

uint32_t EdgeTable::NewRecord() {
  if (free_ != kNoRecord) {
    const uint32_t n = free_;
    free_ = Record(n).tid;
    return n;
  }
  if (chunks_ == nullptr) {
    chunks_ = static_cast<EdgeRecord**>(Map(kDirectoryBytes, false));
    if (chunks_ == nullptr) return kNoRecord;
  }
  const uint32_t chunk = records_ / kChunkRecords;
  if (chunk >= kMaxChunks) return kNoRecord;
  if (chunks_[chunk] == nullptr) {
    chunks_[chunk] = source_ != nullptr
                         ? source_->Take()
                         : static_cast<EdgeRecord*>(Map(kChunkRecords * sizeof(EdgeRecord), true));
    if (chunks_[chunk] == nullptr) return kNoRecord;
  }
  return records_++;
}

bool EdgeTable::Reserve() {
  if (capacity_ == 0 && !Rehash(kInitialCapacity)) return false;
  if (records_ != 0 || free_ != kNoRecord) return true;
  const uint32_t n = NewRecord();  // maps the directory and chunk 0; the record goes back
  if (n == kNoRecord) return false;
  arena::PrefaultPages(slots_, capacity_ * sizeof(uint64_t));
  arena::PrefaultPages(&Record(n), kChunkRecords * sizeof(EdgeRecord));
  Record(n).tid = free_;
  free_ = n;
  return true;
}

EdgeRecord* EdgeTable::Insert(NodeId from, NodeId to) {
  if (!Storable(IndexOf(from), IndexOf(to))) return nullptr;  // no self edge (kEmpty, kErased)
  if ((live_ + erased_ + 1) * 8 > capacity_ * 5) {
    // Grow when the live edges need it; otherwise only sweep the tombstones out.
    size_t capacity = capacity_ == 0 ? kInitialCapacity : capacity_;
    while ((live_ + 1) * 2 > capacity) capacity *= 2;
    if (!Rehash(capacity)) return nullptr;
  }
  return InsertAt(Locate(from, to), from, to);  // (now with room: InsertAt inserts)
}

EdgeTable::Place EdgeTable::Locate(NodeId from, NodeId to) {
  Place p;
  p.slot = p.tombstone = capacity_;
  if (capacity_ == 0 || !Storable(IndexOf(from), IndexOf(to))) return p;
  const uint64_t key = IndexKey(IndexOf(from), IndexOf(to));
  size_t i = SlotOf(key, capacity_);
  for (; slots_[i] != kEmpty; i = (i + 1) & (capacity_ - 1)) {
    if (KeyOf(slots_[i]) == key) {
      p.record = &Record(RecordOf(slots_[i]));
      p.stale = p.record->from != from || p.record->to != to;
      return p;
    }
    if (slots_[i] == kErased && p.tombstone == capacity_) p.tombstone = i;
  }
  p.slot = i;
  return p;
}

EdgeRecord* EdgeTable::InsertAt(const Place& place, NodeId from, NodeId to) {
  if (!Storable(IndexOf(from), IndexOf(to))) return nullptr;  // no self edge (kEmpty, kErased)
  // Where the index must grow first (or was never made), as Insert() does.
  if (place.slot == capacity_ || (live_ + erased_ + 1) * 8 > capacity_ * 5) {
    return Insert(from, to);
  }
  const uint32_t n = NewRecord();
  if (n == kNoRecord) return nullptr;
  size_t i = place.slot;
  if (place.tombstone != capacity_) {
    i = place.tombstone;
    --erased_;
  }
  slots_[i] = SlotWith(IndexKey(IndexOf(from), IndexOf(to)), n);
  ++live_;
  EdgeRecord* r = new (&Record(n)) EdgeRecord();
  r->from = from;
  r->to = to;
  return r;
}

EdgeRecord* EdgeTable::Emplace(NodeId from, NodeId to, Emplaced* how) {
  const Place p = Locate(from, to);
  if (p.record != nullptr) {
    *how = p.stale ? Emplaced::kStale : Emplaced::kFound;
    return p.record;
  }
  EdgeRecord* r = InsertAt(p, from, to);
  if (r != nullptr) *how = Emplaced::kInserted;
  return r;
}

void EdgeTable::Erase(uint32_t from_index, uint32_t to_index) {
  if (!Storable(from_index, to_index)) return;
  size_t i = Probe(IndexKey(from_index, to_index));
  if (i == capacity_) return;
  const uint32_t n = RecordOf(slots_[i]);
  EdgeRecord& r = Record(n);
  r = EdgeRecord();  // from 0: not live (ForEach)
  r.tid = free_;
  free_ = n;
  slots_[i] = kErased;
  --live_;
  ++erased_;
}

}  // namespace lockaudit::core
