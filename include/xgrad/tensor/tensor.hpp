#pragma once
// xgrad::Tensor: a value-semantics handle over shared, contiguous, row-major device storage.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "xgrad/backend/backend.hpp"
#include "xgrad/errors.hpp"
#include "xgrad/tensor/dtype.hpp"
#include "xgrad/tensor/shape.hpp"

namespace xgrad {

/// A block of device memory shared by the tensors that view it. It keeps the backend that allocated
/// it and gives the block back to that same backend.
class Storage {
 public:
  /// Allocates `bytes` through `backend`.
  Storage(std::size_t bytes, Backend& backend);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  /// Start of the block (device memory).
  void* data() const { return data_; }
  /// Size of the block in bytes.
  std::size_t bytes() const { return bytes_; }
  /// Device the block lives on.
  Device device() const { return device_; }
  /// The backend that allocated the block.
  Backend& backend() const { return *backend_; }

 private:
  Backend* backend_;
  Device device_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

struct TensorImpl;
struct BackwardOptions;

/// A dense n-dimensional array of float32, float64 or int64 that can record its history on the
/// autograd tape. Copies share data (like torch::Tensor); use clone() for a deep copy.
class Tensor {
 public:
  /// An undefined tensor (no storage); defined() is false.
  Tensor() = default;
  /// Wraps an existing implementation (for op and backend authors).
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// Uninitialised tensor of `shape` and `dtype` on `device`.
  static Tensor empty(const Shape& shape, DType dtype = DType::float32, Device device = {});

  /// Whether this handle refers to a tensor.
  bool defined() const { return impl_ != nullptr; }
  /// Extents of every axis.
  const Shape& shape() const;
  /// Number of axes.
  std::int64_t dim() const;
  /// Extent of `axis` (negative counts from the end).
  std::int64_t size(std::int64_t axis) const;
  /// Number of elements.
  std::int64_t numel() const;
  /// Element type.
  DType dtype() const;
  /// Device holding the data.
  Device device() const;
  /// Backend of the device holding the data.
  Backend& backend() const;

  /// Device pointer to the first element, typed; throws TypeError if T does not match dtype().
  template <class T>
  T* data() const {
    if (dtype_of<T>() != dtype()) throw_dtype_mismatch(dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  /// Untyped device pointer to the first element.
  void* raw_data() const;
  /// Host pointer to the first element of a CPU tensor; throws DeviceError elsewhere.
  template <class T>
  T* host_data() const {
    require_cpu("host_data");
    return data<T>();
  }

  /// The single element of a one-element tensor, as double; throws ValueError otherwise.
  double item() const;
  /// Element at a full multi-index (negative indices count from the end), as double.
  double at(std::initializer_list<std::int64_t> index) const;
  /// Element at a full multi-index, as double.
  double at(const std::vector<std::int64_t>& index) const;
  /// Sets the element at a full multi-index (no autograd record; for building test inputs).
  void set(const std::vector<std::int64_t>& index, double value);
  /// All elements in row-major order, converted to double (copies from the device).
  std::vector<double> to_vector() const;

  /// Whether gradients are tracked for this tensor.
  bool requires_grad() const;
  /// Marks a leaf tensor as needing (or not) a gradient; returns *this for chaining.
  Tensor& set_requires_grad(bool enabled = true);
  /// True when the tensor was not produced by a recorded op.
  bool is_leaf() const;
  /// Accumulated gradient of a leaf (undefined until a backward pass reaches it).
  Tensor grad() const;
  /// Replaces the accumulated gradient (undefined clears it).
  void set_grad(const Tensor& grad);
  /// Fills the accumulated gradient with zeros, keeping its buffer.
  void zero_grad();

  /// Back-propagates from this scalar: accumulates d(this)/d(leaf) into every leaf's grad().
  void backward() const;
  /// Back-propagates `grad` (shaped like this tensor) as d(loss)/d(this).
  void backward(const Tensor& grad) const;
  /// Back-propagates with explicit options (gradient, retain_graph).
  void backward(const BackwardOptions& options) const;

  /// A handle sharing this tensor's data but detached from the tape (requires_grad false).
  Tensor detach() const;
  /// A deep copy of the data, detached from the tape.
  Tensor clone() const;
  /// A deep copy converted to `dtype`, detached from the tape.
  Tensor to(DType dtype) const;
  /// A copy on `device`, detached from the tape.
  Tensor to(Device device) const;
  /// Fills every element with `value` in place (no autograd record).
  Tensor& fill_(double value);
  /// Moves the data to `device` in place: every handle to this tensor sees the moved data (its gradient,
  /// if any, is left where it is). No autograd record.
  Tensor& to_(Device device);
  /// Converts the data to `dtype` in place, like to_(Device).
  Tensor& to_(DType dtype);

  /// True when both handles refer to the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  /// The shared implementation (for op and autograd authors).
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  /// The implementation; throws ValueError on an undefined tensor.
  TensorImpl& impl() const;

 private:
  void require_cpu(const char* what) const;
  [[noreturn]] void throw_dtype_mismatch(DType requested) const;
  std::shared_ptr<TensorImpl> impl_;
};

/// State shared by all handles to one tensor. Op authors use it through Tensor only.
struct TensorImpl {
  std::shared_ptr<Storage> storage;  ///< the data, possibly shared with views (reshape, detach)
  std::int64_t offset = 0;           ///< first element's index within storage
  Shape shape;                       ///< extents, row-major contiguous
  DType dtype = DType::float32;      ///< element type
  bool requires_grad = false;        ///< whether gradients flow to (or through) this tensor
  Tensor grad;                       ///< accumulated gradient of a leaf (undefined until backward)
  std::int64_t node = -1;            ///< index of the producing tape node; -1 for a leaf
  std::uint64_t tape_id = 0;         ///< process-unique id of the thread tape that holds `node`
  std::uint64_t tape_generation = 0; ///< generation of that tape when `node` was recorded
};

inline const Shape& Tensor::shape() const { return impl().shape; }
inline std::int64_t Tensor::dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
inline std::int64_t Tensor::numel() const { return xgrad::numel(impl().shape); }
inline DType Tensor::dtype() const { return impl().dtype; }
inline Device Tensor::device() const { return impl().storage->device(); }
inline Backend& Tensor::backend() const { return impl().storage->backend(); }
inline bool Tensor::requires_grad() const { return impl().requires_grad; }
inline bool Tensor::is_leaf() const { return impl().node < 0; }

/// Throws ValueError naming `op` and `arg` unless `t` is defined.
void require_defined(const Tensor& t, const char* op, const char* arg);

}  // namespace xgrad
