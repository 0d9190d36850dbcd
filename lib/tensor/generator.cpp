#include "xgrad/tensor/generator.hpp"

#include <cmath>
#include <numbers>

namespace xgrad {

double Generator::normal() {
  // Box-Muller by hand: std::normal_distribution's algorithm differs between standard libraries.
  if (has_spare_) {
    has_spare_ = false;
    return spare_normal_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

}  // namespace xgrad
