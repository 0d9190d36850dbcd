#pragma once
// Umbrella header of the optim layer: optimizers, gradient clipping, finiteness checks, learning-rate schedules.
#include "xgrad/optim/clip.hpp"
#include "xgrad/optim/finite.hpp"
#include "xgrad/optim/optimizer.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/optim/schedule.hpp"
