#pragma once
// Typed exceptions. Every message names the operation, the argument and the shapes involved.
#include <stdexcept>
#include <string>

namespace xgrad {

/// Base of every exception xgrad throws on bad input or misuse.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Shapes that do not fit the operation (mismatched dims, non-broadcastable operands).
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// An argument value outside its allowed range (negative rate, unknown name, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// An operand of the wrong dtype (integer where floating point is needed, mixed dtypes).
class TypeError : public Error {
 public:
  using Error::Error;
};

/// An index or axis out of range.
class IndexError : public Error {
 public:
  using Error::Error;
};

/// A tensor on a device the operation cannot use, or a backend that is not available.
class DeviceError : public Error {
 public:
  using Error::Error;
};

/// Misuse of the autograd tape (backward on a consumed graph, non-scalar loss without a gradient).
class AutogradError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or written, or whose contents are malformed.
class IOError : public Error {
 public:
  using Error::Error;
};

}  // namespace xgrad
