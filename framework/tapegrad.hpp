// tapegrad: everything a user needs, in one include (<tapegrad/tapegrad.hpp>).
#pragma once

#include "framework/allocator.hpp"
#include "framework/generator.hpp"
#include "framework/ops/elementwise.hpp"
#include "framework/ops/group_norm.hpp"
#include "framework/ops/linalg.hpp"
#include "framework/ops/loss.hpp"
#include "framework/ops/reduction.hpp"
#include "framework/ops/shape.hpp"
#include "framework/tape.hpp"
#include "framework/tensor.hpp"
#include "framework/threading.hpp"
#include "layers/group_norm.hpp"
#include "layers/module.hpp"
