#include "edge_table.h"

#include <sys/mman.h>

#include <cstring>

#include "hash.h"

namespace lockaudit::core {
namespace {

// Page-backed storage: a table of a million edges is not the program's (nor the engine
// arena's) business, and zeroed pages are free until touched.
void* MapZeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

size_t SlotOf(uint64_t key, size_t capacity) { return Mix64(key) & (capacity - 1); }

}  // namespace

EdgeTable::~EdgeTable() {
  if (slots_ != nullptr) munmap(slots_, capacity_ * sizeof(EdgeRecord));
  if (state_ != nullptr) munmap(state_, capacity_);
}

size_t EdgeTable::Probe(uint64_t key) const {
  if (capacity_ == 0) return capacity_;
  for (size_t i = SlotOf(key, capacity_), n = 0; n < capacity_; i = (i + 1) & (capacity_ - 1), ++n) {
    if (state_[i] == kEmpty) return capacity_;
    if (state_[i] == kLive && Key(slots_[i].from, slots_[i].to) == key) return i;
  }
  return capacity_;
}

EdgeRecord* EdgeTable::FindByIndex(uint32_t from, uint32_t to) {
  size_t i = Probe((static_cast<uint64_t>(from) << 32) | to);
  return i == capacity_ ? nullptr : &slots_[i];
}

EdgeRecord* EdgeTable::Find(NodeId from, NodeId to) {
  EdgeRecord* r = FindByIndex(IndexOf(from), IndexOf(to));
  return r != nullptr && r->from == from && r->to == to ? r : nullptr;
}

bool EdgeTable::Rehash(size_t capacity) {
  auto* slots = static_cast<EdgeRecord*>(MapZeroed(capacity * sizeof(EdgeRecord)));
  auto* state = static_cast<uint8_t*>(MapZeroed(capacity));
  if (slots == nullptr || state == nullptr) {
    if (slots != nullptr) munmap(slots, capacity * sizeof(EdgeRecord));
    if (state != nullptr) munmap(state, capacity);
    return false;
  }
  for (size_t i = 0; i < capacity_; ++i) {
    if (state_[i] != kLive) continue;
    size_t j = SlotOf(Key(slots_[i].from, slots_[i].to), capacity);
    while (state[j] != kEmpty) j = (j + 1) & (capacity - 1);
    memcpy(static_cast<void*>(&slots[j]), &slots_[i], sizeof(EdgeRecord));
    state[j] = kLive;
  }
  if (slots_ != nullptr) munmap(slots_, capacity_ * sizeof(EdgeRecord));
  if (state_ != nullptr) munmap(state_, capacity_);
  slots_ = slots;
  state_ = state;
  capacity_ = capacity;
  erased_ = 0;
  return true;
}

EdgeRecord* EdgeTable::Insert(NodeId from, NodeId to) {
  if ((live_ + erased_ + 1) * 8 > capacity_ * 5) {
    // Grow when the live edges need it; otherwise only sweep the tombstones out.
    size_t capacity = capacity_ == 0 ? 1024 : capacity_;
    while ((live_ + 1) * 2 > capacity) capacity *= 2;
    if (!Rehash(capacity)) return nullptr;
  }
  const uint64_t key = Key(from, to);
  size_t i = SlotOf(key, capacity_);
  while (state_[i] == kLive) i = (i + 1) & (capacity_ - 1);
  if (state_[i] == kErased) --erased_;
  state_[i] = kLive;
  ++live_;
  EdgeRecord* r = new (&slots_[i]) EdgeRecord();
  r->from = from;
  r->to = to;
  return r;
}

void EdgeTable::Erase(uint32_t from_index, uint32_t to_index) {
  size_t i = Probe((static_cast<uint64_t>(from_index) << 32) | to_index);
  if (i == capacity_) return;
  state_[i] = kErased;
  --live_;
  ++erased_;
}

}  // namespace lockaudit::core
