#include <xgrad/xgrad.hpp>
#include <cmath>
#include <cstdio>

int main() {
  using namespace xgrad;
  Generator gen(42);
  Tensor x = randn({256}, gen), y = 3.0 * x + 1.0;          // data on the line y = 3x + 1
  Tensor w = zeros({1}), b = zeros({1});
  w.set_requires_grad(), b.set_requires_grad();
  for (int step = 0; step < 200; ++step) {
    Tensor loss = mean(pow(w * x + b - y, 2.0));            // recorded on the tape
    loss.backward();                                        // fills w.grad() and b.grad()
    NoGradGuard no_grad;                                    // the update is not recorded
    for (Tensor* p : {&w, &b}) {                            // plain SGD: p <- p - 0.1 * dloss/dp
      *p = *p - 0.1 * p->grad();
      p->set_requires_grad();
    }
  }
  std::printf("w = %.4f, b = %.4f\n", w.item(), b.item());  // w = 3.0000, b = 1.0000
  return std::abs(w.item() - 3.0) < 1e-3 && std::abs(b.item() - 1.0) < 1e-3 ? 0 : 1;
}
