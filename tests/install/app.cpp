// Consumer of the installed xgrad: computes a gradient through the tape, checks it against the
// derivative worked out by hand, and runs the public gradcheck. Exit status 0 means all agree.
#include <xgrad/xgrad.hpp>

#include <cmath>
#include <cstdio>

int main() {
  using namespace xgrad;
  // y = sum(x^3 + 2x)  =>  dy/dx = 3x^2 + 2
  Tensor x = from_vector({0.5, -1.0, 2.0}, {3}, DType::float64);
  x.set_requires_grad();
  Tensor y = sum(pow(x, 3.0) + 2.0 * x);
  y.backward();
  const double expected[] = {2.75, 5.0, 14.0};
  int failures = 0;
  for (std::int64_t i = 0; i < 3; ++i) {
    const double got = x.grad().at({i});
    std::printf("dy/dx[%ld] = %g (expected %g)\n", static_cast<long>(i), got, expected[i]);
    if (std::abs(got - expected[i]) > 1e-12) ++failures;
  }
  auto report = gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]) * in[1]; },
                          {from_vector({0.3, -0.7}, {2}, DType::float64).set_requires_grad(),
                           from_vector({1.5, 2.0}, {2}, DType::float64).set_requires_grad()});
  std::printf("gradcheck of tanh(a) * b: %s\n", report.passed ? "passed" : report.to_string().c_str());
  if (!report.passed) ++failures;
  return failures == 0 ? 0 : 1;
}
