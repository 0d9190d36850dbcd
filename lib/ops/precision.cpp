// The thread's product precision; the CPU backend reads it through GemmArgs::bf16_operands (ops/linalg.cpp).
#include "xgrad/ops/precision.hpp"

namespace xgrad {

namespace {
thread_local ProductPrecision current = ProductPrecision::float32;
}  // namespace

ProductPrecision product_precision() { return current; }

PrecisionScope::PrecisionScope(ProductPrecision precision) : previous_(current) { current = precision; }
PrecisionScope::~PrecisionScope() { current = previous_; }

}  // namespace xgrad
