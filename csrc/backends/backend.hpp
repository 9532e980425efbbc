// Internal inference-backend interface: one class per engine (OpenVINO, TensorRT), picked by yolocls::Runtime.
//
// Not installed and not part of the public API (it may name nothing engine-specific either, so that backends can be
// compiled separately). A backend owns a model and a fixed pool of InferSlots; a slot is one worker's private state
// (an ov::InferRequest, or a TensorRT execution context + CUDA stream + buffers).
//
// Thread-safety contract:
//   * Backend: every const method and acquire() may be called from any number of threads at once.
//   * acquire() blocks until a slot is free and hands it out through a Lease; the slot is used by that one thread
//     only, until the Lease is destroyed (which returns the slot to the pool). N slots => N concurrent inferences.
//   * InferSlot: not thread-safe; only its lease holder calls it.
// Errors: throw yolocls::Error (never exit()/abort()); a slot that threw stays usable.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "yolocls/error.hpp"
#include "yolocls/preprocess.hpp"  // yolocls::DType
#include "yolocls/runtime.hpp"     // yolocls::Precision

namespace yolocls {

// Where a buffer lives. Device = CUDA device memory of the backend's device.
enum class Memory { Host, Device };

// Options every backend understands; a backend ignores what does not apply to it.
struct BackendOptions {
  std::string device = "CPU";  // OpenVINO device name ("CPU", "GPU", ...); TensorRT: "cuda:0"/"0" style
  int device_id = 0;           // CUDA device ordinal (TensorRT)
  int threads = 0;             // inference threads (OpenVINO INFERENCE_NUM_THREADS); 0 = the engine's default
  int num_slots = 0;           // InferSlots in the pool (concurrent inferences); 0 = backend default
  int streams = 0;             // OpenVINO NUM_STREAMS; 0 = the performance hint's choice; TensorRT ignores it
  int max_batch = 0;           // largest batch a slot must accept; 0 = the model's limit (or 32 when unbounded)
  bool cuda_graph = false;     // TensorRT: capture one CUDA graph per batch size
  int imgsz = 0;               // input side the caller will feed; fixes dynamic H/W (0 = the model's own)
  Precision precision = Precision::F32;  // OpenVINO inference precision; TensorRT ignores it
};

// What a backend's model looks like.
struct ModelInfo {
  std::string input_name;
  std::string output_name;
  int channels = 3;
  int height = 0;
  int width = 0;
  int min_batch = 1;
  int max_batch = 0;  // 0 = unbounded (dynamic batch without an upper bound)
  int num_classes = 0;
  DType input_dtype = DType::Float32;  // element type of InferSlot::input_buffer()
  Memory input_memory = Memory::Host;  // where InferSlot::input_buffer() lives
};

// One worker's private inference state. Only the current lease holder calls these.
class InferSlot {
 public:
  virtual ~InferSlot() = default;

  // The slot-owned input buffer for `batch` images: batch*C*H*W elements of ModelInfo::input_dtype at
  // ModelInfo::input_memory, NCHW. Valid until the next input_buffer()/copy_input() call on this slot. Preprocessing
  // writes straight into it (no extra copy).
  virtual void* input_buffer(int batch) = 0;

  // Device backends: the device input binding itself, for `batch` images (ModelInfo::input_dtype, NCHW, on this
  // slot's device, which the call makes current for the calling thread), so device preprocessing enqueued on
  // stream() writes straight into it and the next run() uses it without an upload. nullptr (the default) when the
  // slot has no device input; then use input_buffer() / copy_input(). Valid until the next
  // input_buffer()/device_input_buffer()/copy_input() call on this slot.
  virtual void* device_input_buffer(int batch) {
    (void)batch;
    return nullptr;
  }

  // Copy a caller-owned NCHW buffer (same dtype as ModelInfo::input_dtype) at `src_memory` into the slot's input.
  // Default: host memcpy into input_buffer(). Device backends override it and must accept both Memory::Host (the
  // Runtime preprocesses on the CPU and uploads through this) and Memory::Device (cudaMemcpyAsync on their stream).
  virtual void copy_input(const void* src, int batch, Memory src_memory);

  // Run inference on the first `batch` images of the input buffer; synchronous (returns when output() is ready).
  virtual void run(int batch) = 0;

  // Host float32 logits [batch, num_classes] of the last run(); valid until the next run() on this slot.
  virtual const float* output() const = 0;

  // The CUDA stream (cudaStream_t cast to void*) the slot runs on, so device preprocessing can be enqueued on it
  // before run(); nullptr for host backends.
  virtual void* stream() const { return nullptr; }

 protected:
  // Set by the owning Backend (add_slot) so the default copy_input can size buffers.
  size_t image_elems_ = 0;
  size_t elem_size_ = 4;
  friend class Backend;
};

class Backend {
 public:
  // RAII handle on a slot taken from the pool; returns it on destruction. Move-only.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : owner_(o.owner_), index_(o.index_) { o.owner_ = nullptr; }
    Lease& operator=(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }
    InferSlot* operator->() const { return slot(); }
    InferSlot& operator*() const { return *slot(); }
    InferSlot* slot() const;
    void release();

   private:
    friend class Backend;
    Lease(const Backend* owner, size_t index) : owner_(owner), index_(index) {}
    const Backend* owner_ = nullptr;
    size_t index_ = 0;
  };

  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // "openvino" | "tensorrt"
  virtual std::string name() const = 0;
  const ModelInfo& info() const { return info_; }

  // Take a free slot (blocks while all are busy). Thread-safe.
  Lease acquire() const;

 protected:
  Backend() = default;
  // Derived constructors fill info_ and then add their slots (at least one).
  void add_slot(std::unique_ptr<InferSlot> slot);
  // Destroy every slot now (a derived destructor that must control when its engine objects die).
  void release_slots() { slots_.clear(); busy_.clear(); }
  ModelInfo info_;

 private:
  std::vector<std::unique_ptr<InferSlot>> slots_;
  mutable std::vector<bool> busy_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
};

}  // namespace yolocls
