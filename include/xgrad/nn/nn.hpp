#pragma once
// Umbrella header of the layers: Module, Sequential and every Keras-style layer with its helpers.
#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/layer_norm.hpp"
#include "xgrad/nn/metrics.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/positional.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/nn/transformer.hpp"
