// Slot pool shared by every backend (see backend.hpp for the thread-safety contract).
#include "backends/backend.hpp"

#include <cstring>
#include <string>
#include <utility>

namespace yolocls {

void InferSlot::copy_input(const void* src, int batch, Memory src_memory) {
  if (src_memory != Memory::Host) {
    throw Error("this backend takes host input buffers only");
  }
  void* dst = input_buffer(batch);
  std::memcpy(dst, src, static_cast<size_t>(batch) * image_elems_ * elem_size_);
}

Backend::Lease& Backend::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = o.owner_;
    index_ = o.index_;
    o.owner_ = nullptr;
  }
  return *this;
}

InferSlot* Backend::Lease::slot() const {
  if (!owner_) throw Error("empty backend lease");
  return owner_->slots_[index_].get();
}

void Backend::Lease::release() {
  if (!owner_) return;
  {
    std::lock_guard<std::mutex> lock(owner_->mutex_);
    owner_->busy_[index_] = false;
  }
  owner_->cv_.notify_one();
  owner_ = nullptr;
}

void Backend::add_slot(std::unique_ptr<InferSlot> slot) {
  slot->image_elems_ = static_cast<size_t>(info_.channels) * info_.height * info_.width;
  slot->elem_size_ = info_.input_dtype == DType::Float16 ? 2 : 4;
  std::lock_guard<std::mutex> lock(mutex_);
  slots_.push_back(std::move(slot));
  busy_.push_back(false);
}

Backend::Lease Backend::acquire() const {
  std::unique_lock<std::mutex> lock(mutex_);
  if (slots_.empty()) throw Error("backend has no inference slots");
  for (;;) {
    for (size_t i = 0; i < busy_.size(); ++i) {
      if (!busy_[i]) {
        busy_[i] = true;
        return Lease(this, i);
      }
    }
    cv_.wait(lock);
  }
}

}  // namespace yolocls
